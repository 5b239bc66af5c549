/**
 * The live region's sentence for the faces of a frame, such as "2 faces: female 93%, male 88%". A face without a
 * label yet (undefined) is left out, so it is first announced with its label rather than as a bare count; when no
 * face has a label yet but some are there, there is nothing new to say (undefined), rather than "No faces".
 */
export function describeFaces(labels: readonly (string | undefined)[]): string | undefined {
  const known = labels.filter((l) => l !== undefined);
  if (known.length === 0) return labels.length === 0 ? 'No faces' : undefined;
  const count = known.length === 1 ? '1 face' : `${known.length} faces`;
  return `${count}: ${known.join(', ')}`;
}
