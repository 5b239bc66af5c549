/** The live region's sentence for the faces of a frame, such as "2 faces: female 93%, male 88%". */
export function describeFaces(labels: readonly string[]): string {
  if (labels.length === 0) return 'No faces';
  const count = labels.length === 1 ? '1 face' : `${labels.length} faces`;
  return `${count}: ${labels.join(', ')}`;
}
