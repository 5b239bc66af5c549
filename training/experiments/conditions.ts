/**
 * Gender accuracy on photos taken in poor conditions, which no validation folder holds apart (docs/experiments.md
 * §46). Each photo is run through the still pipeline (`evaluate`'s: the detector, the shared crop, the calibrated
 * classifier averaged with the mirror image) as taken and changed as a camera would change it:
 * - dark: a quarter of the light, as a phone leaves a dim room unbrightened;
 * - dim, brightened: an eighth of the light on a sensor whose white collects 4,000 electrons (shot noise, 4 e⁻ of
 *   read noise), brightened back eightfold, as a phone's auto gain does it;
 * - blurred: out of focus, a Gaussian of σ = 4 % of the face's width;
 * - compressed: JPEG at quality 15, as a video call sends a frame.
 * Light is scaled in linear sRGB. A face counts as found when a detection overlaps the face found in the photo as
 * taken (IoU ≥ 0.3). Accuracy is given on the faces found in each condition, and on the faces found in all of them.
 *
 *   npx tsx training/experiments/conditions.ts --data ../shared/data/diverse --split Validation [--by race]
 */
import { resolve } from 'node:path';
import sharp from 'sharp';
import { mulberry32, sampleNormal } from '../../src/core/augment';
import { iou, type Box } from '../../src/core/geometry';
import { groupRecords, groupStats, spread } from '../../src/core/groups';
import { summary } from '../../src/core/metrics';
import { withFlipAveraging } from '../../src/vision/classifier';
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
  selectSplit,
} from '../cli/common';
import { decodeImage, decodeInOrder, imageTensor, type RgbImage } from '../lib/data/images';
import { groupsOf } from '../lib/data/labels';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { blazeFaceModels } from '../lib/node-io';

const HELP = `Usage: npx tsx training/experiments/conditions.ts --data <dir> [--split <name>] [--limit n] [--model <dir>]
       [--by <column>] [--json]

Gender accuracy of the still pipeline on each photo as taken, dark, dim and brightened (sensor noise), blurred and
JPEG-compressed. --split as evaluate reads it; --limit takes that many images spread evenly over the sorted files
(default: all); --by gives the worst group of that labels.csv column in each condition, on the same faces.`;

const MATCH_IOU = 0.3;
const SENSOR = { whiteElectrons: 4000, readNoise: 4 };
const BLUR_OF_FACE_WIDTH = 0.04;
const JPEG_QUALITY = 15;

const TO_LINEAR = Float64Array.from({ length: 256 }, (_, v) => {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
});

function toSrgbByte(linear: number): number {
  const l = Math.min(1, Math.max(0, linear));
  return Math.round(255 * (l <= 0.0031308 ? 12.92 * l : 1.055 * l ** (1 / 2.4) - 0.055));
}

/** The photo with each value's linear light mapped by `f`. */
function mapLight(image: RgbImage, f: (linear: number) => number): RgbImage {
  return { ...image, data: image.data.map((v) => toSrgbByte(f(TO_LINEAR[v]))) };
}

/** The photo through sharp's `change`, which sets its output format too, decoded again. */
async function throughSharp(image: RgbImage, change: (s: sharp.Sharp) => sharp.Sharp): Promise<RgbImage> {
  const raw = { width: image.width, height: image.height, channels: 3 as const };
  return decodeImage(await change(sharp(Buffer.from(image.data), { raw })).toBuffer());
}

type Condition = (image: RgbImage, face: Box, rng: () => number) => Promise<RgbImage> | RgbImage;

const CONDITIONS: Record<string, Condition> = {
  dark: (image) => mapLight(image, (l) => l / 4),
  'dim, brightened': (image, _, rng) => {
    const white = SENSOR.whiteElectrons / 8;
    return mapLight(image, (l) => {
      const electrons = l * white;
      return (electrons + Math.sqrt(electrons + SENSOR.readNoise ** 2) * sampleNormal(rng)) / white;
    });
  },
  blurred: (image, face) => throughSharp(image, (s) => s.blur(Math.max(0.3, BLUR_OF_FACE_WIDTH * face.width)).png()),
  compressed: (image) => throughSharp(image, (s) => s.jpeg({ quality: JPEG_QUALITY })),
};
const NAMES = ['as taken', ...Object.keys(CONDITIONS)];

const { values } = parseCommandLine(HELP, {
  options: {
    data: { type: 'string' },
    split: { type: 'string' },
    limit: { type: 'string' },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    by: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (!values.data) fail('--data <dir> is required (see --help)', EXIT.usage);
const limit = values.limit === undefined ? Infinity : Number(values.limit);
if (!(limit === Infinity || (Number.isInteger(limit) && limit > 0)))
  fail('--limit must be a whole number above 0', EXIT.usage);
if (values.json) console.log = console.error;

assertBlazeFaceInstalled();
const dataset = openDataset(values.data);
const { split, wanted } = selectSplit(dataset, values.split);
const all = dataset.entries.filter(wanted);
const count = Math.min(limit, all.length);
const entries = Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]);
const groups = values.by
  ? groupsOf(
      dataset.root,
      values.by,
      entries.map((e) => e.name),
    )
  : null;
if (values.by && !groups) fail(`${dataset.root}/labels.csv has no "${values.by}" column`, EXIT.usage);

await initTrainingBackend();
const detector = await loadBlazeFace(blazeFaceModels());
const classifier = withFlipAveraging(await loadClassifierDir(resolve(values.model)));
const { crop, policy } = classifier.metadata;

/**
 * The still pipeline on `photo`: the face found (the first, or the first over `near` by IoU) and its calibrated
 * probability of "male"; null without one.
 */
async function classifyFace(photo: RgbImage, near: Box | null): Promise<{ box: Box; p: number } | null> {
  const image = imageTensor(photo);
  const faces = await detector.detect(image, { still: true });
  const face = faces.find((d) => !near || iou(d.box, near) >= MATCH_IOU);
  let p = NaN;
  if (face) {
    const crops = cropFaces(image, [face.box], crop);
    [p] = await classifier.classify(crops);
    crops.dispose();
  }
  image.dispose();
  return face ? { box: face.box, p } : null;
}

/** Calibrated probability of "male" in each condition, null where the face was not found; null if not as taken. */
const probabilities: Array<Array<number | null> | null> = [];
const bar = progressBar('conditions', 'img');
bar.start(entries.length, 0, { rate: '-', extra: '' });
const started = performance.now();
let i = 0;
for await (const decoded of decodeInOrder(entries.map((e) => e.path))) {
  const rng = mulberry32(++i);
  const taken = decoded instanceof Error ? null : await classifyFace(decoded, null);
  let p: Array<number | null> | null = null;
  if (taken) {
    p = [taken.p];
    for (const change of Object.values(CONDITIONS)) {
      const changed = await change(decoded as RgbImage, taken.box, rng);
      p.push((await classifyFace(changed, taken.box))?.p ?? null);
    }
  }
  probabilities.push(p);
  bar.update(i, { rate: (i / ((performance.now() - started) / 1000)).toFixed(1), extra: '' });
}
bar.stop();
detector.dispose();
classifier.dispose();

const asTaken = entries.flatMap((_, k) => (probabilities[k] ? [k] : []));
const everywhere = asTaken.filter((k) => probabilities[k]!.every((p) => p !== null));
const report = {
  data: values.data,
  split,
  model: values.model,
  images: entries.length,
  faceAsTaken: asTaken.length,
  foundInEvery: everywhere.length,
  conditions: NAMES.map((name, c) => {
    const found = asTaken.filter((k) => probabilities[k]![c] !== null);
    const row = (ks: number[]) =>
      summary(
        ks.map((k) => probabilities[k]![c]!),
        ks.map((k) => entries[k].label),
        policy.threshold,
      );
    const worst =
      groups &&
      spread(
        groupStats(
          groupRecords(
            everywhere.map((k) => groups[k]),
            everywhere.map((k) => entries[k].label),
            everywhere.map((k) => probabilities[k]![c]),
          ),
          policy.threshold,
        ),
      ).worst;
    return {
      name,
      found: found.length / asTaken.length,
      onFound: row(found),
      onFoundInEvery: row(everywhere),
      worstGroup: worst ?? null,
    };
  }),
};

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
console.log(
  `${report.images} images, ${report.faceAsTaken} with a face as taken, ${report.foundInEvery} found in every condition`,
);
console.log('condition          found    accuracy  balanced  F / M recall   | same faces: accuracy  balanced  worst');
for (const r of report.conditions) {
  const same = r.onFoundInEvery;
  console.log(
    `${r.name.padEnd(16)} ${pct(r.found).padStart(7)} ${pct(r.onFound.accuracy).padStart(9)} ` +
      `${pct(r.onFound.balancedAccuracy).padStart(9)}  ${pct(r.onFound.femaleRecall)} / ${pct(r.onFound.maleRecall)}` +
      ` | ${pct(same.accuracy).padStart(9)} ${pct(same.balancedAccuracy).padStart(9)}` +
      (r.worstGroup ? `  ${r.worstGroup.group} ${pct(r.worstGroup.accuracy)}` : ''),
  );
}
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
