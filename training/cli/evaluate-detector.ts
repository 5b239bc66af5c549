import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  MATCH_IOU,
  parseSceneFaces,
  sumTallies,
  tallyDetections,
  type DetectionTally,
  type SceneFaces,
} from '../../src/core/detection-metrics';
import { loadBlazeFace } from '../../src/vision/detector';
import { assertBlazeFaceInstalled, EXIT, fail, parseCommandLine, progressBar } from './common';
import { decodeInOrder, imageTensor } from '../lib/data/images';
import { blazeFaceModels, REPO_ROOT } from '../lib/node-io';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

const DEFAULT_FACES = join(REPO_ROOT, 'test', 'fixtures', 'scene-faces.json');

const HELP = `Usage: npm run evaluate:detector -- --data <dir> [--json] [--faces <file>]

Runs the app's face detector on every photo of the hand-checked face boxes, as the app looks at a photo (the
full-range model on the whole photo and its tiles, the short-range model with its border retries), and prints
detection recall and precision per photo and in total.

  --data <dir>     the scene photos, e.g. ../shared/data/scenes
  --faces <file>   the hand-checked boxes (default test/fixtures/scene-faces.json)
  --json           print the JSON report on stdout (progress goes to stderr): per photo and in total
                   "truePositives", "falsePositives", "misses", "ignored", "recall", "precision" (null where there
                   is nothing to measure), and each photo's "detections" ([x, y, width, height] in pixels of the
                   file, and the score)
  -h, --help       this text

A detection finds a face when their boxes overlap at IoU ${MATCH_IOU} or more; each face is found at most once, by
the highest-scored detection that overlaps it. A face marked "ignore" (under 20 px wide, mostly hidden, seen from
behind) is never a miss, and a detection on it is neither a true nor a false positive. Recall is the share of the
other faces found; precision the share of the counted detections that found one.

Exit codes: 0 done; 1 error (no such folder, a photo or the face boxes missing or unreadable, BlazeFace weights
missing); 2 bad arguments.`;

interface PhotoReport extends DetectionTally {
  file: string;
  faces: number;
  ignoredFaces: number;
  detections: { box: [number, number, number, number]; score: number }[];
}

const { values } = parseCommandLine(HELP, {
  options: {
    data: { type: 'string' },
    faces: { type: 'string', default: DEFAULT_FACES },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (!values.data) fail('--data <dir> is required (see --help)', EXIT.usage);
const dataDir = resolve(values.data);
if (!existsSync(dataDir)) fail(`no scene photos: ${dataDir} does not exist`);
const photos = readFaces(resolve(values.faces));
const missing = photos.filter((p) => !existsSync(join(dataDir, p.file)));
if (missing.length > 0) {
  fail(`${missing.length} photo(s) of ${values.faces} not in ${dataDir}: ${missing.map((p) => p.file).join(', ')}`);
}
assertBlazeFaceInstalled();
if (values.json) console.log = console.error;
await initTrainingBackend();
const detector = await loadBlazeFace(blazeFaceModels());

const round = (x: number, digits: number) => Number(x.toFixed(digits));
const reports: PhotoReport[] = [];
const bar = progressBar('detect', 'img');
bar.start(photos.length, 0, { rate: '-', extra: '' });
const started = performance.now();
let i = 0;
for await (const decoded of decodeInOrder(photos.map((p) => join(dataDir, p.file)))) {
  const photo = photos[i++];
  if (decoded instanceof Error) fail(`cannot read ${photo.file}: ${decoded.message.split('\n')[0]}`);
  // The boxes are in pixels of the file, which decodeImage scales down above 2048 px.
  const [width, height] = [decoded.width, decoded.height].map((n) => Math.round(n * decoded.scale));
  if (Math.abs(width - photo.width) > 1 || Math.abs(height - photo.height) > 1) {
    fail(`${photo.file} is ${width}×${height}, but its face boxes are for ${photo.width}×${photo.height}`);
  }
  const image = imageTensor(decoded);
  const faces = await detector.detect(image, { still: true });
  image.dispose();
  const s = decoded.scale;
  const detections = faces.map(({ box: b, score }) => ({
    box: { x: b.x * s, y: b.y * s, width: b.width * s, height: b.height * s },
    score,
  }));
  reports.push({
    file: photo.file,
    faces: photo.faces.filter((f) => !f.ignore).length,
    ignoredFaces: photo.faces.filter((f) => f.ignore).length,
    ...tallyDetections(detections, photo.faces),
    detections: detections.map((d) => ({
      box: [d.box.x, d.box.y, d.box.width, d.box.height].map((n) => round(n, 1)) as [number, number, number, number],
      score: round(d.score, 4),
    })),
  });
  bar.update(i, { rate: (i / ((performance.now() - started) / 1000)).toFixed(1), extra: '' });
}
bar.stop();
detector.dispose();
const total = {
  photos: reports.length,
  faces: reports.reduce((n, r) => n + r.faces, 0),
  ignoredFaces: reports.reduce((n, r) => n + r.ignoredFaces, 0),
  ...sumTallies(reports),
};

if (values.json) {
  const report = { data: dataDir, faces: resolve(values.faces), minIou: MATCH_IOU, total, photos: reports };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
} else {
  process.stdout.write(table(reports, total) + '\n');
}
process.exit(EXIT.ok);

function readFaces(path: string): SceneFaces[] {
  if (!existsSync(path)) fail(`no face boxes: ${path} does not exist`);
  try {
    return parseSceneFaces(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    fail(`cannot read the face boxes in ${path}: ${(err as Error).message}`);
  }
}

function table(rows: readonly PhotoReport[], sum: DetectionTally & { faces: number; ignoredFaces: number }): string {
  const percent = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)} %`);
  const header = ['photo', 'faces', 'ignored', 'found', 'missed', 'false+', 'recall', 'precision'];
  const line = (name: string, r: DetectionTally & { faces: number; ignoredFaces: number }) => [
    name,
    String(r.faces),
    String(r.ignoredFaces),
    String(r.truePositives),
    String(r.misses),
    String(r.falsePositives),
    percent(r.recall),
    percent(r.precision),
  ];
  const cells = [header, ...rows.map((r) => line(r.file, r)), line('total', sum)];
  const widths = header.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const format = (row: string[]) =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const rule = '-'.repeat(format(header).length);
  return [
    `detection against hand-checked faces, IoU >= ${MATCH_IOU}; "ignored" faces are neither found nor missed`,
    format(header),
    rule,
    ...cells.slice(1, -1).map(format),
    rule,
    format(cells[cells.length - 1]),
  ].join('\n');
}
