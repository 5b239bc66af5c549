/**
 * Gender accuracy by face size, as the live camera sees faces far away (issue 16.3; docs/experiments.md). Each
 * image's face is found as a still, then the photo is scaled (area-averaged, as a camera sensor sees a smaller
 * face) so that the face's box is 24, 32, 48 or 64 px wide, and placed in the middle of a 640×480 grey frame. The
 * app's live pipeline runs on that frame: the detector as for a video frame, the shared crop, the calibrated
 * classifier. A face counts as found when a detection overlaps the placed box (IoU ≥ 0.3).
 *
 *   npx tsx training/experiments/face-size.ts --data ../shared/data/fairface [--split Test] [--limit 600]
 *
 * Accuracy is reported on the faces found at each width, and on the faces found at every width (the same faces
 * at each size, the fair comparison).
 */
import * as tf from '@tensorflow/tfjs-core';
import { resolve } from 'node:path';
import sharp from 'sharp';
import { iou, type Box } from '../../src/core/geometry';
import { accuracy, balancedAccuracy, confusion, perClass } from '../../src/core/metrics';
import { cropFaces } from '../../src/vision/crop';
import { loadBlazeFace } from '../../src/vision/detector';
import {
  assertBlazeFaceInstalled,
  DEFAULT_MODEL_DIR,
  EXIT,
  fail,
  loadClassifierDir,
  openDataset,
  parseCommandLine,
  progressBar,
} from '../cli/common';
import { SPLITS, type Split } from '../lib/data/dataset';
import { decodeImage, imageTensor, type RgbImage } from '../lib/data/images';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { blazeFaceModels } from '../lib/node-io';

const HELP = `Usage: npx tsx training/experiments/face-size.ts --data <dir> [--split Test] [--widths 24,32,48,64]
       [--limit n] [--model <dir>] [--json]

Gender accuracy of the live pipeline on faces scaled to each width (px) in a 640×480 frame.`;

const FRAME = { width: 640, height: 480 };
const GREY = 128;
const MATCH_IOU = 0.3;

const { values } = parseCommandLine(HELP, {
  options: {
    data: { type: 'string' },
    split: { type: 'string', default: 'Test' },
    widths: { type: 'string', default: '24,32,48,64' },
    limit: { type: 'string', default: '600' },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (!values.data) fail('--data <dir> is required', EXIT.usage);
const split = SPLITS.find((s) => s.toLowerCase() === values.split.toLowerCase()) as Split | undefined;
if (!split) fail(`--split must be one of ${SPLITS.join(', ')}`, EXIT.usage);
const widths = values.widths.split(',').map(Number);
if (widths.some((w) => !(w >= 8 && w <= 400))) fail('--widths are face widths in px, 8–400', EXIT.usage);
const limit = Number(values.limit);
if (!(Number.isInteger(limit) && limit > 0)) fail('--limit must be a whole number above 0', EXIT.usage);
if (values.json) console.log = console.error;

assertBlazeFaceInstalled();
const dataset = openDataset(values.data);
const all = dataset.entries.filter((e) => dataset.layout !== 'kaggle' || e.split === split);
// Every k-th image, so a limit keeps both classes and every group in their proportions (files are sorted).
const step = Math.max(1, Math.floor(all.length / limit));
const entries = all.filter((_, i) => i % step === 0).slice(0, limit);

await initTrainingBackend();
// Each placed frame is taken as one live frame that looks at a far-face view, as every live frame did when
// docs/experiments.md §13 was measured, rather than at none on two frames in three.
const detector = await loadBlazeFace(blazeFaceModels(), { viewEvery: 1 });
const classifier = await loadClassifierDir(resolve(values.model));
const { crop } = classifier.metadata;

/** The photo scaled so that `face` is `width` px wide, centred in a grey frame; returns the frame and the face's box. */
async function placeInFrame(source: RgbImage, face: Box, width: number): Promise<{ frame: tf.Tensor3D; box: Box }> {
  const f = width / face.width;
  const w = Math.max(1, Math.round(source.width * f));
  const h = Math.max(1, Math.round(source.height * f));
  if (w > FRAME.width || h > FRAME.height) throw new Error(`a face scaled to ${width} px leaves the frame`);
  const scaled = await sharp(Buffer.from(source.data), {
    raw: { width: source.width, height: source.height, channels: 3 },
  })
    .resize(w, h, { kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const left = Math.round((FRAME.width - w) / 2);
  const top = Math.round((FRAME.height - h) / 2);
  const frame = new Uint8Array(FRAME.width * FRAME.height * 3).fill(GREY);
  for (let y = 0; y < h; y++)
    frame.set(scaled.subarray(y * w * 3, (y + 1) * w * 3), ((top + y) * FRAME.width + left) * 3);
  const sx = w / source.width;
  const sy = h / source.height;
  return {
    frame: tf.tensor3d(frame, [FRAME.height, FRAME.width, 3], 'int32'),
    box: { x: left + face.x * sx, y: top + face.y * sy, width: face.width * sx, height: face.height * sy },
  };
}

interface Result {
  label: 0 | 1;
  /** Calibrated probability of "male" at each width, or null where the face was not found. */
  p: Array<number | null>;
}

const results: Result[] = [];
let noStillFace = 0;
const bar = progressBar('face size', 'img');
bar.start(entries.length, 0, { rate: '-', extra: '' });
const started = performance.now();
for (const [i, entry] of entries.entries()) {
  const source = await decodeImage(entry.path);
  const image = imageTensor(source);
  const [face] = await detector.detect(image, { still: true });
  image.dispose();
  bar.update(i + 1, { rate: ((i + 1) / ((performance.now() - started) / 1000)).toFixed(1), extra: '' });
  if (!face) {
    noStillFace++;
    continue;
  }
  const p: Array<number | null> = [];
  for (const width of widths) {
    const { frame, box } = await placeInFrame(source, face.box, width);
    const found = (await detector.detect(frame)).find((d) => iou(d.box, box) >= MATCH_IOU);
    if (found) {
      const crops = cropFaces(frame, [found.box], crop);
      const [probabilityMale] = await classifier.classify(crops);
      crops.dispose();
      p.push(probabilityMale);
    } else {
      p.push(null);
    }
    frame.dispose();
  }
  results.push({ label: entry.label, p });
}
bar.stop();
detector.dispose();
classifier.dispose();

function figures(rows: Array<{ label: 0 | 1; p: number }>) {
  const c = confusion(
    rows.map((r) => r.p),
    rows.map((r) => r.label),
  );
  const recall = perClass(c);
  return {
    n: rows.length,
    accuracy: accuracy(c),
    balancedAccuracy: balancedAccuracy(c),
    femaleRecall: recall.female.recall,
    maleRecall: recall.male.recall,
  };
}

const everywhere = results.filter((r) => r.p.every((p) => p !== null));
const report = {
  data: values.data,
  split: dataset.layout === 'kaggle' ? split : null,
  images: entries.length,
  noFaceAsStill: noStillFace,
  byWidth: widths.map((width, i) => {
    const found = results.filter((r) => r.p[i] !== null);
    return {
      width,
      found: found.length / results.length,
      onFound: figures(found.map((r) => ({ label: r.label, p: r.p[i] as number }))),
      onFoundAtEveryWidth: figures(everywhere.map((r) => ({ label: r.label, p: r.p[i] as number }))),
    };
  }),
};
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
console.log(
  `${report.images} images (${noStillFace} without a face as stills); ${everywhere.length} faces found at every width`,
);
console.log('width  found    accuracy  balanced  F / M recall     | same faces: accuracy  balanced');
for (const r of report.byWidth) {
  console.log(
    `${String(r.width).padStart(4)} px ${pct(r.found).padStart(7)} ${pct(r.onFound.accuracy).padStart(9)} ` +
      `${pct(r.onFound.balancedAccuracy).padStart(9)}  ${pct(r.onFound.femaleRecall)} / ${pct(r.onFound.maleRecall)}` +
      `  | ${pct(r.onFoundAtEveryWidth.accuracy).padStart(9)} ${pct(r.onFoundAtEveryWidth.balancedAccuracy).padStart(9)}`,
  );
}
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
