/**
 * Gender accuracy by face size, as the live camera sees faces far away (issue 16.3; docs/experiments.md). Each
 * image's face is found as a still, then the photo is scaled (Lanczos, as a camera sensor sees a smaller face)
 * so that the face's box is 24, 32, 48 or 64 px wide, and placed in the middle of a 640×480 grey frame. The
 * app's live pipeline runs on that frame, shown as a short video: the detector as for video, the shared crop, the
 * calibrated classifier. A face counts as found when a detection overlaps the placed box (IoU ≥ 0.3).
 *
 *   npx tsx training/experiments/face-size.ts --data ../shared/data/fairface [--split <name>] [--limit 600]
 *
 * --split is read as `evaluate` reads it: a Kaggle folder's split (default Test), or in a plain folder the tenth
 * that training holds out (Validation), the rest (Train) or all of it (no --split).
 *
 * Accuracy is reported on the faces found at each width, and on the faces found at every width (the same faces
 * at each size, the fair comparison).
 */
import { resolve } from 'node:path';
import { FULL_RANGE_ANCHORS } from '../../src/core/face-anchors';
import { cycledViews } from '../../src/core/face-views';
import { iou } from '../../src/core/geometry';
import { summary } from '../../src/core/metrics';
import { cropFaces } from '../../src/vision/crop';
import { DEFAULT_DETECTOR_OPTIONS, loadBlazeFace } from '../../src/vision/detector';
import {
  assertBlazeFaceInstalled,
  DEFAULT_MODEL_DIR,
  EXIT,
  fail,
  loadClassifierDir,
  openDataset,
  parseCommandLine,
  progressBar,
  selectSplit,
} from '../cli/common';
import { decodeImage, imageTensor, placeInFrame } from '../lib/data/images';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { blazeFaceModels } from '../lib/node-io';

const HELP = `Usage: npx tsx training/experiments/face-size.ts --data <dir> [--split <name>] [--widths 24,32,48,64]
       [--limit n] [--model <dir>] [--no-refine | --refine-below <px>] [--json]

Gender accuracy of the live pipeline on faces scaled to each width (px) in a 640×480 frame. --no-refine keeps the
full-range model's boxes, as the detector did before far faces were looked at again by the short-range model;
--refine-below looks again at faces whose box is under that many px (the detector's default: ${DEFAULT_DETECTOR_OPTIONS.refine?.maxSide}).`;

const FRAME = { width: 640, height: 480 };
const MATCH_IOU = 0.3;

const { values } = parseCommandLine(HELP, {
  options: {
    data: { type: 'string' },
    split: { type: 'string' },
    widths: { type: 'string', default: '24,32,48,64' },
    limit: { type: 'string', default: '600' },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    'no-refine': { type: 'boolean', default: false },
    'refine-below': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (!values.data) fail('--data <dir> is required', EXIT.usage);
const widths = values.widths.split(',').map(Number);
if (widths.some((w) => !(w >= 8 && w <= 400))) fail('--widths are face widths in px, 8–400', EXIT.usage);
const limit = Number(values.limit);
if (!(Number.isInteger(limit) && limit > 0)) fail('--limit must be a whole number above 0', EXIT.usage);
const refineBelow = values['refine-below'] === undefined ? undefined : Number(values['refine-below']);
if (refineBelow !== undefined && !(refineBelow > 0)) fail('--refine-below is a box side in px above 0', EXIT.usage);
if (refineBelow !== undefined && values['no-refine'])
  fail('--no-refine and --refine-below exclude each other', EXIT.usage);
if (values.json) console.log = console.error;

assertBlazeFaceInstalled();
const dataset = openDataset(values.data);
const { split, wanted } = selectSplit(dataset, values.split);
const all = dataset.entries.filter(wanted);
// Evenly spread over the sorted files, so a limit keeps both classes and every group in their proportions.
const count = Math.min(limit, all.length);
const entries = Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]);

await initTrainingBackend();
// Each placed frame is shown as a short video of a person standing still, a cycled view on every frame, for twice
// as many frames as there are views. Over the second half every view has been looked at and each is the fresh one
// once, so which tile's box a face gets does not depend on where the cycle stood; the face's probability is the
// mean over those frames (the app smooths a face's label over frames too), and it counts as found when it is found
// on most of them. Nothing is held from the frame before (a face of another size or person).
const { refine } = DEFAULT_DETECTOR_OPTIONS;
const detector = await loadBlazeFace(blazeFaceModels(), {
  viewEvery: 1,
  refine: values['no-refine'] || !refine ? null : { ...refine, maxSide: refineBelow ?? refine.maxSide },
});
const liveFrames = cycledViews(FRAME.width, FRAME.height, FULL_RANGE_ANCHORS.inputSize).length;
const classifier = await loadClassifierDir(resolve(values.model));
const { crop, policy } = classifier.metadata;

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
    const { frame, box } = await placeInFrame(source, face.box, width, FRAME);
    const seen: number[] = [];
    for (let f = 0; f < 2 * liveFrames; f++) {
      const faces = await detector.detect(frame);
      const found = faces.find((d) => iou(d.box, box) >= MATCH_IOU);
      if (f < liveFrames || !found) continue;
      const crops = cropFaces(frame, [found.box], crop);
      const [probabilityMale] = await classifier.classify(crops);
      crops.dispose();
      seen.push(probabilityMale);
    }
    p.push(seen.length > liveFrames / 2 ? seen.reduce((a, b) => a + b, 0) / seen.length : null);
    frame.dispose();
  }
  results.push({ label: entry.label, p });
}
bar.stop();
detector.dispose();
classifier.dispose();

const everywhere = results.filter((r) => r.p.every((p) => p !== null));
const report = {
  data: values.data,
  split,
  images: entries.length,
  noFaceAsStill: noStillFace,
  byWidth: widths.map((width, i) => {
    const found = results.filter((r) => r.p[i] !== null);
    return {
      width,
      found: found.length / results.length,
      onFound: summary(
        found.map((r) => r.p[i] as number),
        found.map((r) => r.label),
        policy.threshold,
      ),
      onFoundAtEveryWidth: summary(
        everywhere.map((r) => r.p[i] as number),
        everywhere.map((r) => r.label),
        policy.threshold,
      ),
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
