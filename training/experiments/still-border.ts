/**
 * Chooses the border retry for stills (src/vision/detector.ts) on validation data: for each fill and scale, how
 * many faces BlazeFace finds, and how well the retried box agrees with the box found without a border. Run:
 *   npx tsx training/experiments/still-border.ts ../shared/data/celeba/Dataset ../shared/data/diverse \
 *     ../shared/data/scenes/negative_dlib_dogs.jpg
 * Kaggle-layout folders are read from Validation/, plain {Male,Female} folders from their held-out tenth; at most
 * about LIMIT images of each, evenly spaced. An image file argument is a photo without a human face: any face found
 * there is a false one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { iou, scaleBox, type Box } from '../../src/core/geometry';
import { loadBlazeFace, type BorderRetry } from '../../src/vision/detector';
import { listDataset } from '../lib/data/dataset';
import { decodeImage, decodeInOrder, imageTensor } from '../lib/data/images';
import { inSplit } from '../lib/data/splits';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { blazeFaceModels } from '../lib/node-io';

const single = (scoreThreshold: number) =>
  [1.5, 2].flatMap((scale) =>
    (['black', 'mean', 'edge'] as const).map((fill): BorderRetry[] => [{ scale, fill, scoreThreshold }]),
  );
const mean = (scale: number, scoreThreshold: number): BorderRetry => ({ scale, fill: 'mean', scoreThreshold });
/** Each candidate is a sequence of retries, tried in order until one finds a face. */
const RETRIES: BorderRetry[][] = [
  ...single(0.75),
  ...single(0.6),
  [mean(2, 0.5)],
  [mean(1.5, 0.5)],
  [mean(2, 0.6), mean(1.5, 0.6)],
  [mean(2, 0.6), mean(2, 0.5)],
  [mean(2, 0.6), mean(1.5, 0.5)],
];
const describe = (retries: BorderRetry[]) =>
  retries.map((r) => `${r.fill} ×${r.scale}, score ≥ ${r.scoreThreshold}`).join(', then ');

const LIMIT = 1200;
const IMAGE = /\.(jpe?g|png)$/i;

await initTrainingBackend();
const plain = await loadBlazeFace(blazeFaceModels(), { stillRetries: [] });
const retried = await Promise.all(RETRIES.map((stillRetries) => loadBlazeFace(blazeFaceModels(), { stillRetries })));
const rows: string[] = [];
const args = process.argv.slice(2);
for (const dir of args.filter((a) => !IMAGE.test(a))) {
  const dataset = listDataset(dir);
  const entries = dataset.entries
    .filter(inSplit(dataset, 'Validation'))
    .filter((_, k, all) => k % Math.ceil(all.length / LIMIT) === 0);
  let foundPlain = 0;
  const found = RETRIES.map(() => 0);
  // Each image with a face is also cut tight to its face box, as a tight photo would be: how often the retry finds
  // the face there, and how well the box it maps back agrees with the one found in the whole image.
  let tight = 0;
  const tightFound = RETRIES.map(() => 0);
  const tightIou = RETRIES.map(() => 0);
  let i = 0;
  for await (const decoded of decodeInOrder(entries.map((e) => e.path))) {
    if (decoded instanceof Error) continue;
    const image = imageTensor(decoded);
    const [face] = await plain.detect(image);
    if (face) foundPlain++;
    const cut = face ? tightCut(image, face.box) : null;
    if (cut && (await plain.detect(cut.image)).length === 0) tight++;
    else cut?.image.dispose();
    for (let r = 0; r < RETRIES.length; r++) {
      // With a face found plainly, the retry never runs.
      if (face || (await retried[r].detect(image, { still: true })).length > 0) found[r]++;
      if (!cut || cut.image.isDisposed) continue;
      const [again] = await retried[r].detect(cut.image, { still: true });
      if (!again) continue;
      tightFound[r]++;
      tightIou[r] += iou(face!.box, { ...again.box, x: again.box.x + cut.x, y: again.box.y + cut.y });
    }
    if (cut && !cut.image.isDisposed) cut.image.dispose();
    image.dispose();
    if (++i % 200 === 0) process.stderr.write(`${dir}: ${i}/${entries.length}\n`);
  }
  const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(2)} %`;
  rows.push(`| ${dir} (${entries.length}) | none | ${pct(foundPlain, entries.length)} | | |`);
  RETRIES.forEach((r, k) => {
    rows.push(
      `| ${dir} | ${describe(r)} | ${pct(found[k], entries.length)} | ${pct(tightFound[k], tight)} of ${tight} | ` +
        `${tightFound[k] ? (tightIou[k] / tightFound[k]).toFixed(3) : ''} |`,
    );
  });
}
for (const photo of args.filter((a) => IMAGE.test(a))) {
  const image = imageTensor(await decodeImage(photo));
  for (let r = 0; r < RETRIES.length; r++) {
    const faces = await retried[r].detect(image, { still: true });
    rows.push(`| ${photo} (no face) | ${describe(RETRIES[r])} | ${faces.length} false | | |`);
  }
  image.dispose();
}
console.log("| data | border | faces found | tight cuts found | IoU of their boxes with the whole image's |");
console.log('| --- | --- | --- | --- | --- |');
console.log(rows.join('\n'));

/** The image cut to its face box grown 1.1 times (inside the image), or null when that is the whole image. */
function tightCut(image: tf.Tensor3D, box: Box): { image: tf.Tensor3D; x: number; y: number } | null {
  const [height, width] = image.shape;
  const grown = scaleBox(box, 1.1);
  const x = Math.max(0, Math.round(grown.x));
  const y = Math.max(0, Math.round(grown.y));
  const w = Math.min(width, Math.round(grown.x + grown.width)) - x;
  const h = Math.min(height, Math.round(grown.y + grown.height)) - y;
  if (w < 16 || h < 16 || (w === width && h === height)) return null;
  return { image: tf.slice(image, [y, x, 0], [h, w, 3]), x, y };
}
