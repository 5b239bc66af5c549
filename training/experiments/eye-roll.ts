/**
 * Whether levelling each face by its eyes would help (alignment; issue 15), on validation data and without
 * training: the model's accuracy by how far the eye line is tilted (roll), on the crop as the app cuts it and on the
 * same crop cut from the photo rotated about the crop's centre so that the eyes are level (§30 of
 * docs/experiments.md). Run:
 *   npx tsx training/experiments/eye-roll.ts [--model <dir>] ../shared/data/celeba/Dataset ../shared/data/diverse
 * Kaggle-layout folders are read from Validation/, plain {Male,Female} folders from their held-out tenth. Each face
 * is scored with its mirror image, as the app scores a photo. The residual roll, from BlazeFace run again on the
 * rotated photo, checks that the rotation levels the eyes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { faceCropBox } from '../../src/core/crop';
import { withFlipAveraging } from '../../src/vision/classifier';
import { asFloat32, cropFaces } from '../../src/vision/crop';
import { loadBlazeFace, type DetectedFace } from '../../src/vision/detector';
import { loadClassifierDir, readModelDir } from '../cli/common';
import { listDataset } from '../lib/data/dataset';
import { stillFaces } from '../lib/data/images';
import { inSplit } from '../lib/data/splits';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { blazeFaceModels } from '../lib/node-io';

const BANDS = [0, 5, 10, 15, Infinity];

const { values, positionals } = parseArgs({
  options: { model: { type: 'string', default: 'public/models/gender' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error('usage: eye-roll.ts [--model <dir>] <data dir> [...]');
  process.exit(2);
}
await initTrainingBackend();
const { crop } = readModelDir(values.model);
const detector = await loadBlazeFace(blazeFaceModels());
const classifier = withFlipAveraging(await loadClassifierDir(values.model));

/** The eye line's angle in radians, clockwise on screen: BlazeFace's first two keypoints are the right and left eye. */
const rollOf = ({ landmarks: [right, left] }: DetectedFace) => Math.atan2(left[1] - right[1], left[0] - right[0]);
const pct = (k: number, n: number) => (n === 0 ? '–' : `${((100 * k) / n).toFixed(2)} %`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

for (const dir of positionals) {
  const dataset = listDataset(dir);
  const entries = dataset.entries.filter(inSplit(dataset, 'Validation'));
  const bands = BANDS.slice(1).map(() => ({ faces: 0, asCut: 0, levelled: 0 }));
  const rollBefore: number[] = [];
  const rollAfter: number[] = [];
  for await (const { index, image, face } of stillFaces(
    entries.map((e) => e.path),
    detector,
  )) {
    const { label } = entries[index];
    const roll = rollOf(face);
    const box = faceCropBox(face.box, crop);
    const [height, width] = image.shape;
    const centre: [number, number] = [(box.x + box.width / 2) / width, (box.y + box.height / 2) / height];
    const levelled = tf.tidy(
      () =>
        tf.squeeze(
          tf.image.rotateWithOffset(tf.expandDims(asFloat32(image), 0) as tf.Tensor4D, roll, 0, centre),
          [0],
        ) as tf.Tensor3D,
    );
    const [again] = await detector.detect(levelled, { still: true });
    if (again) rollAfter.push(Math.abs(rollOf(again)));
    rollBefore.push(Math.abs(roll));
    const p = tf.tidy(() =>
      classifier.predict(tf.concat([cropFaces(image, [face.box], crop), cropFaces(levelled, [face.box], crop)])),
    );
    const [asCut, afterLevelling] = await p.data();
    tf.dispose([p, levelled, image]);
    const degrees = (Math.abs(roll) * 180) / Math.PI;
    const band = bands[BANDS.findIndex((_, k) => degrees < BANDS[k + 1])];
    band.faces++;
    if (asCut > 0.5 === (label === 1)) band.asCut++;
    if (afterLevelling > 0.5 === (label === 1)) band.levelled++;
    if ((index + 1) % 500 === 0) process.stderr.write(`${dir}: ${index + 1}/${entries.length}\n`);
  }
  const deg = (r: number) => `${((r * 180) / Math.PI).toFixed(1)}°`;
  console.log(
    `\n${dir}: ${entries.length} images, ${rollBefore.length} faces; median |roll| ${deg(median(rollBefore))}, ` +
      `after levelling ${deg(median(rollAfter))} (${rollAfter.length} found again)\n`,
  );
  console.log('| eye line tilted | faces | accuracy, as cut | accuracy, levelled |');
  console.log('| --- | --- | --- | --- |');
  bands.forEach((b, k) => {
    const range = Number.isFinite(BANDS[k + 1]) ? `${BANDS[k]}–${BANDS[k + 1]}°` : `${BANDS[k]}° or more`;
    console.log(`| ${range} | ${b.faces} | ${pct(b.asCut, b.faces)} | ${pct(b.levelled, b.faces)} |`);
  });
  const total = bands.reduce((t, b) => ({
    faces: t.faces + b.faces,
    asCut: t.asCut + b.asCut,
    levelled: t.levelled + b.levelled,
  }));
  console.log(`| all | ${total.faces} | ${pct(total.asCut, total.faces)} | ${pct(total.levelled, total.faces)} |`);
}
