import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { confidentStats } from '../../src/core/calibration';
import {
  compareGroups,
  crossedColumns,
  groupRecords,
  groupStats,
  MIN_GROUP_FACES,
  recallGap,
  rowGroup,
  spread,
  type GroupStats,
} from '../../src/core/groups';
import { formatVerdict, verdict } from '../../src/core/labels';
import { accuracy, auc, balancedAccuracy, confusion, expectedCalibrationError, perClass } from '../../src/core/metrics';
import { withFlipAveraging } from '../../src/vision/classifier';
import { cropFaces } from '../../src/vision/crop';
import { loadBlazeFace } from '../../src/vision/detector';
import {
  assertBlazeFaceInstalled,
  DEFAULT_MODEL_DIR,
  EXIT,
  fail,
  formatSkipped,
  loadClassifierDir,
  openDataset,
  parseCommandLine,
  progressBar,
  selectSplit,
} from './common';
import type { DatasetEntry } from '../lib/data/dataset';
import { readLabels } from '../lib/data/labels';
import { decodeInOrder, imageTensor } from '../lib/data/images';
import { blazeFaceModels } from '../lib/node-io';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../lib/plot';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

const HELP = `Usage: npm run evaluate -- --data <dir> [options]

Runs the app's pipeline for photos (BlazeFace, the shared face crop, the classifier with its calibration, each
face averaged with its mirror image) on every image of a labelled folder and reports how well it does.

  --data <dir>      Kaggle layout {Train,Validation,Test}/{Male,Female}/*.jpg, or a plain {Male,Female}/ folder
  --split <name>    Test, Validation or Train: the Kaggle layout's split folders (default Test); in a plain folder,
                    Validation is the tenth of its images that training holds out to choose models on, and Train
                    the rest (default: all of them)
  --model <dir>     exported model folder (default public/models/gender)
  --report <dir>    also write index.html (plots, most confident mistakes), summary.md and report.json there
  --json            print the JSON report on stdout (progress goes to stderr)
  --single-view     classify each face from its crop alone, as the app does a live frame (default: its score
                    averaged with its mirror image's, as the app does a photo)
  --by <columns>    accuracy per group for these columns of <dir>/labels.csv (its "file" column names each image
                    as a path relative to <dir>), e.g. --by race,age: a table and a chart per column, the worst
                    group and the gap between the best and the worst group's accuracy; columns joined by +
                    are crossed, e.g. --by race+age
  --min-group <n>   the faces a group needs to be ranked worst or best (default ${MIN_GROUP_FACES})
  --mistakes <file> list the images the app labels confidently and wrongly (not "uncertain"), most confident
                    first, one per line: wrong labels in the data, or the model's blind spots, to look at
  -h, --help        this text

The face with the highest detection score in each image is the one evaluated. "accuracy" counts images with a
face found; "accuracyAll" counts an image without one as wrong. "recallGap" is female recall minus male recall.
Files that cannot be used (unreadable or not an image, empty, hidden, broken links, no face found) are skipped,
counted and listed with the reason.

With --by, "groups" gives each column's groups (images, faces found, and on those faces accuracy, balanced
accuracy, female and male recall; null where there is nothing to measure), "groupGap" each column's best minus
worst accuracy, and "worstGroup" the worst over all columns; only groups with --min-group faces are ranked, and a
column needs two of them. An "age" column is banded 0–12, 13–19, 20–39, 40–59, 60+ (a range like 30-39 by its
midpoint, "more than 70" by its bound); an image with a blank value, or not in labels.csv, is in no group.

Exit codes: 0 done, every image had a face; 3 done, but some files were skipped (listed); 1 error (no dataset,
model or face at that path); 2 bad arguments (--by included: no labels.csv, or no such column).`;

interface Outcome {
  entry: DatasetEntry;
  probabilityMale: number;
  crop: Uint8Array;
}

function parse() {
  const { values } = parseCommandLine(HELP, {
    options: {
      data: { type: 'string' },
      split: { type: 'string' },
      model: { type: 'string', default: DEFAULT_MODEL_DIR },
      report: { type: 'string' },
      json: { type: 'boolean', default: false },
      'single-view': { type: 'boolean', default: false },
      mistakes: { type: 'string' },
      by: { type: 'string' },
      'min-group': { type: 'string', default: String(MIN_GROUP_FACES) },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (!values.data) fail('--data <dir> is required (see --help)', EXIT.usage);
  const minGroup = Number(values['min-group']);
  if (!Number.isInteger(minGroup) || minGroup < 1) {
    fail(`--min-group must be a whole number of at least 1, got "${values['min-group']}"`, EXIT.usage);
  }
  return { ...values, data: values.data, minGroup };
}

const opts = parse();
if (opts.json) console.log = console.error;
assertBlazeFaceInstalled();
const dataset = openDataset(opts.data);
const { split, wanted } = selectSplit(dataset, opts.split);
const entries = dataset.entries.filter(wanted);
const heldOut = dataset.layout === 'flat' && split !== null;
const dataPath = dataset.layout === 'kaggle' ? join(dataset.root, split!) : dataset.root;
/** Which of its images were evaluated, for the progress bar and the report. */
const part = !heldOut ? split : split === 'Validation' ? 'the held-out tenth' : 'all but the held-out tenth';
const where = heldOut ? `${dataPath} (${part})` : dataPath;
if (entries.length === 0) fail(`no images in ${dataPath}: expected {Male,Female}/*.jpg there`);
const groupLabels = readGroupLabels(dataset.root, opts.by);
const backend = await initTrainingBackend();
const detector = await loadBlazeFace(blazeFaceModels());
const loaded = await loadClassifierDir(resolve(opts.model));
const classifier = opts['single-view'] ? loaded : withFlipAveraging(loaded);
const { metadata } = classifier;

const outcomes: Outcome[] = [];
const noFace: DatasetEntry[] = [];
const skipped = dataset.skipped.filter(wanted);
const images = entries.length + skipped.length;
const bar = progressBar(`evaluate ${part ?? dataset.root}`, 'img');
bar.start(entries.length, 0, { rate: '-', extra: '' });
const started = performance.now();
let classifySeconds = 0;
let i = 0;
for await (const decoded of decodeInOrder(entries.map((e) => e.path))) {
  const entry = entries[i++];
  if (decoded instanceof Error) {
    skipped.push({ name: entry.name, reason: decoded.message.split('\n')[0] });
  } else {
    const image = imageTensor(decoded);
    const [face] = await detector.detect(image, { still: true });
    if (!face) noFace.push(entry);
    else {
      const crops = cropFaces(image, [face.box], metadata.crop);
      const classifyStarted = performance.now();
      const [probabilityMale] = await classifier.classify(crops);
      classifySeconds += (performance.now() - classifyStarted) / 1000;
      const pixels = tf.tidy(() => tf.cast(tf.clipByValue(tf.round(crops), 0, 255), 'int32'));
      outcomes.push({ entry, probabilityMale, crop: Uint8Array.from(await pixels.data()) });
      tf.dispose([crops, pixels]);
    }
    image.dispose();
  }
  bar.update(i, { rate: (i / ((performance.now() - started) / 1000)).toFixed(1), extra: '' });
}
bar.stop();
const seconds = (performance.now() - started) / 1000;
detector.dispose();
classifier.dispose();
if (outcomes.length === 0) {
  printSkipped();
  fail(`no face found in any of the ${images} images of ${dataPath}: expected photos of faces`);
}

const probs = Float32Array.from(outcomes, (o) => o.probabilityMale);
const labels = Uint8Array.from(outcomes, (o) => o.entry.label);
const c = confusion(probs, labels, metadata.policy.threshold);
const confident = confidentStats(probs, labels, metadata.policy.threshold, metadata.policy.uncertainBand);
const evaluated: { entry: DatasetEntry; probabilityMale: number | null }[] = [
  ...outcomes,
  ...noFace.map((entry) => ({ entry, probabilityMale: null })),
];
const groups: Record<string, Record<string, GroupStats>> = Object.fromEntries(
  groupLabels.columns.map((column) => {
    const records = groupRecords(
      evaluated.map(({ entry }) => rowGroup(column, groupLabels.rows.get(entry.name))),
      evaluated.map(({ entry }) => entry.label),
      evaluated.map((e) => e.probabilityMale),
    );
    return [column, groupStats(records, metadata.policy.threshold)];
  }),
);
const spreads = Object.fromEntries(Object.entries(groups).map(([column, g]) => [column, spread(g, opts.minGroup)]));
const { worstGroup, groupGap } = compareGroups(spreads);
const report = {
  data: dataPath,
  split: part,
  model: { dir: resolve(opts.model), version: metadata.version, arch: metadata.arch },
  backend,
  images,
  facesFound: outcomes.length,
  noFace: noFace.length,
  skipped: skipped.length,
  accuracy: accuracy(c),
  accuracyAll: images > 0 ? (c.tp + c.tn) / images : 0,
  balancedAccuracy: balancedAccuracy(c),
  perClass: perClass(c),
  recallGap: recallGap(c),
  confusion: { actualMale: { male: c.tp, female: c.fn }, actualFemale: { male: c.fp, female: c.tn } },
  auc: auc(probs, labels),
  ece: expectedCalibrationError(probs, labels),
  coverage: confident.coverage,
  confidentAccuracy: confident.accuracy,
  policy: metadata.policy,
  temperature: metadata.temperature,
  bias: metadata.bias ?? 0,
  imagesPerSecond: entries.length / seconds,
  flipAveraging: !opts['single-view'],
  classifyMsPerFace: (1000 * classifySeconds) / outcomes.length,
  groups,
  worstGroup,
  groupGap,
  noFaceFiles: noFace.map((e) => e.name),
  skippedFiles: skipped,
};

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const points = (x: number) => `${(100 * x).toFixed(2)} points`;
const summary = [
  `# Evaluation of ${metadata.arch} model ${metadata.version}`,
  '',
  `Data: \`${where}\` — ${images} images, faces found in ${outcomes.length}, no face in ${noFace.length}, ` +
    `skipped ${skipped.length}. Backend ${backend}, ${report.imagesPerSecond.toFixed(1)} images/s end to end, ` +
    `${report.classifyMsPerFace.toFixed(2)} ms to classify a face${opts['single-view'] ? '' : ' (with its mirror image)'}.`,
  '',
  '| metric | value |',
  '|---|---|',
  `| accuracy (images with a face) | ${pct(report.accuracy)} |`,
  `| accuracy (all images; no face = wrong) | ${pct(report.accuracyAll)} |`,
  `| balanced accuracy | ${pct(report.balancedAccuracy)} |`,
  `| male precision / recall (n) | ${pct(report.perClass.male.precision)} / ${pct(report.perClass.male.recall)} (${report.perClass.male.n}) |`,
  `| female precision / recall (n) | ${pct(report.perClass.female.precision)} / ${pct(report.perClass.female.recall)} (${report.perClass.female.n}) |`,
  `| female recall − male recall | ${points(report.recallGap)} |`,
  `| ROC AUC | ${report.auc.toFixed(4)} |`,
  `| expected calibration error (15 bins) | ${pct(report.ece)} |`,
  `| coverage (labelled, not "uncertain") | ${pct(report.coverage)} |`,
  `| accuracy of the labels shown | ${pct(report.confidentAccuracy)} |`,
  '',
  '| actual \\ predicted | male | female |',
  '|---|---|---|',
  `| male | ${c.tp} | ${c.fn} |`,
  `| female | ${c.fp} | ${c.tn} |`,
  ...groupLabels.columns.flatMap((column) => ['', groupTable(column)]),
  ...(worstGroup && groupLabels.columns.length > 1
    ? ['', `Worst group of all: ${worstGroup.column} ${worstGroup.group} (${pct(worstGroup.accuracy)}).`]
    : []),
].join('\n');

console.log(summary);
printSkipped();

if (opts.report) await writeReport(resolve(opts.report));
if (opts.mistakes) writeMistakes(resolve(opts.mistakes));
if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.exit(noFace.length + skipped.length > 0 ? EXIT.skipped : EXIT.ok);

/** The --by columns' values in labels.csv, by file name; exits 2 when the file or a column is missing. */
function readGroupLabels(root: string, by: string | undefined) {
  const rows = new Map<string, Record<string, string>>();
  if (by === undefined) return { columns: [], rows };
  const columns = [...new Set(by.split(',').map((c) => c.trim()))].filter((c) => c !== '');
  if (columns.length === 0) fail('--by needs column names, e.g. --by race,age', EXIT.usage);
  const file = join(root, 'labels.csv');
  const csv = readLabels(root);
  if (!csv) fail(`--by needs ${file}, which does not exist`, EXIT.usage);
  const missing = [...new Set(['file', ...columns.flatMap(crossedColumns)])].filter((c) => !csv.columns.includes(c));
  if (missing.length > 0) {
    const list = missing.map((c) => `"${c}"`).join(', ');
    fail(
      `${file} has no column${missing.length > 1 ? 's' : ''} ${list} (it has ${csv.columns.join(', ')})`,
      EXIT.usage,
    );
  }
  for (const row of csv.rows) rows.set(row.file, row);
  return { columns, rows };
}

function groupTable(column: string): string {
  const show = (x: number | null) => (x === null ? '–' : pct(x));
  const stats = Object.entries(groups[column]);
  const { worst, best, gap } = spreads[column];
  const ungrouped = evaluated.length - stats.reduce((sum, [, s]) => sum + s.n, 0);
  return [
    `## Accuracy by ${column}`,
    '',
    `| ${column} | images | faces found | accuracy | balanced accuracy | female recall | male recall |`,
    '|---|---|---|---|---|---|---|',
    ...stats.map(
      ([group, s]) =>
        `| ${group} | ${s.n} | ${s.facesFound} | ${show(s.accuracy)} | ${show(s.balancedAccuracy)} | ` +
        `${show(s.femaleRecall)} | ${show(s.maleRecall)} |`,
    ),
    '',
    worst && best && gap !== null
      ? `Worst group: ${worst.group} (${pct(worst.accuracy)}); best: ${best.group} (${pct(best.accuracy)}); ` +
        `gap ${points(gap)}.`
      : `Fewer than two groups have ${opts.minGroup} faces: none is ranked worst.`,
    ...(ungrouped > 0 ? [`${ungrouped} images have no ${column} and are in no group.`] : []),
  ].join('\n');
}

function printSkipped(): void {
  if (noFace.length > 0) {
    const list = formatSkipped(noFace.map((e) => ({ name: e.name, reason: 'no face found' })));
    console.log(`\nno face found (${noFace.length}):\n${list}`);
  }
  if (skipped.length > 0) console.log(`\nskipped (${skipped.length}):\n${formatSkipped(skipped)}`);
}

async function writeReport(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, 'summary.md'), summary + '\n');
  const [roc, reliability] = await Promise.all([renderSvg(rocSpec()), renderSvg(reliabilitySpec())]);
  const groupCharts = await Promise.all(groupLabels.columns.map((column) => renderSvg(groupSpec(column))));
  const mistakes = await mistakeTiles(24);
  const escape = (s: string) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FaceSense evaluation</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:.8em}
figure{margin:0}figure img{width:128px;height:128px;image-rendering:pixelated}figcaption{font-size:12px}</style></head>
<body><pre style="white-space:pre-wrap">${escape(summary)}</pre>
<h2>ROC curve and reliability</h2><div class="plots">${roc}${reliability}</div>
${groupCharts.length > 0 ? `<h2>Accuracy by group</h2><div class="plots">${groupCharts.join('')}</div>` : ''}
<h2>Most confident mistakes</h2><div class="grid">${mistakes
    .map(
      (m) =>
        `<figure><img alt="${escape(m.caption)}" src="data:image/png;base64,${m.png}"><figcaption>${escape(m.caption)}</figcaption></figure>`,
    )
    .join('')}</div></body></html>`;
  writeFileSync(join(dir, 'index.html'), html);
  console.log(`\nreport written to ${dir}/index.html, summary.md and report.json`);
}

function rocSpec() {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]);
  const positives = labels.reduce((s, v) => s + v, 0);
  const negatives = labels.length - positives;
  const points = [{ fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  order.forEach((k, i) => {
    if (labels[k] === 1) tp++;
    else fp++;
    if (i === order.length - 1 || probs[order[i + 1]] !== probs[k]) {
      points.push({ fpr: fp / Math.max(1, negatives), tpr: tp / Math.max(1, positives) });
    }
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `ROC (AUC ${report.auc.toFixed(4)}), male as positive`,
    width: 320,
    height: 320,
    background: 'white',
    data: { values: points },
    mark: { type: 'line' },
    encoding: {
      x: { field: 'fpr', type: 'quantitative', title: 'false positive rate' },
      y: { field: 'tpr', type: 'quantitative', title: 'true positive rate' },
    },
  } satisfies TopLevelSpec;
}

function reliabilitySpec() {
  const bins = 15;
  const rows = Array.from({ length: bins }, (_, b) => ({ bin: (b + 0.5) / bins, n: 0, conf: 0, right: 0 }));
  probs.forEach((p, k) => {
    const conf = Math.max(p, 1 - p);
    const row = rows[Math.min(bins - 1, Math.floor(conf * bins))];
    row.n++;
    row.conf += conf;
    row.right += (p >= 0.5 ? 1 : 0) === labels[k] ? 1 : 0;
  });
  const values = rows
    .filter((r) => r.n > 0)
    .map((r) => ({ confidence: r.conf / r.n, accuracy: r.right / r.n, n: r.n }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Reliability (ECE ${pct(report.ece)})`,
    width: 320,
    height: 320,
    background: 'white',
    layer: [
      {
        data: { values: [{ x: 0.5 }, { x: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'x', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: {
            field: 'confidence',
            type: 'quantitative',
            title: 'confidence of the label',
            scale: { domain: [0.5, 1] },
          },
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
          tooltip: [{ field: 'n', type: 'quantitative' }],
        },
      },
    ],
  } satisfies TopLevelSpec;
}

/** Accuracy and the two recalls of each group of `column`, as grouped bars; a group without faces has none. */
function groupSpec(column: string) {
  const measures = ['accuracy', 'female recall', 'male recall'];
  const stats = Object.entries(groups[column]);
  const names = stats.map(([group, s]) => `${group} (${s.facesFound})`);
  const values = stats.flatMap(([, s], k) =>
    [s.accuracy, s.femaleRecall, s.maleRecall].flatMap((value, m) =>
      value === null ? [] : [{ group: names[k], measure: measures[m], value }],
    ),
  );
  // Groups tend to differ by a few points near 100 %: on an axis from 0 the bars would look alike.
  const low = Math.max(0, Math.floor(20 * Math.min(1, ...values.map((v) => v.value)) - 1) / 20);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Accuracy by ${column}`,
    width: Math.max(240, 60 * names.length),
    height: 240,
    background: 'white',
    data: { values },
    mark: { type: 'bar', clip: true },
    encoding: {
      x: {
        field: 'group',
        type: 'nominal',
        title: `${column} (faces found)`,
        scale: { domain: names },
        axis: { labelAngle: -30 },
      },
      xOffset: { field: 'measure', type: 'nominal', scale: { domain: measures } },
      y: {
        field: 'value',
        type: 'quantitative',
        title: low > 0 ? `on faces found (axis from ${Math.round(100 * low)} %)` : 'on faces found',
        scale: { domain: [low, 1] },
        axis: { format: '.0%' },
      },
      color: { field: 'measure', type: 'nominal', title: null, scale: { domain: measures } },
    },
    config: { legend: { orient: 'bottom' } },
  } satisfies TopLevelSpec;
}

/** Wrongly labelled faces, most confident first. */
function mistakesByConfidence(): Outcome[] {
  return outcomes
    .filter((o) => (o.probabilityMale >= metadata.policy.threshold ? 1 : 0) !== o.entry.label)
    .sort((a, b) => Math.abs(b.probabilityMale - 0.5) - Math.abs(a.probabilityMale - 0.5));
}

/** One name per line, as dataset names (relative to --data); what follows a tab is for people reading the list. */
function writeMistakes(file: string): void {
  const lines = mistakesByConfidence().flatMap((o) => {
    const v = verdict(o.probabilityMale, metadata.policy);
    if (v.label === 'uncertain') return [];
    return [`${o.entry.name}\t# labelled ${o.entry.label === 1 ? 'male' : 'female'}, shown ${formatVerdict(v)}`];
  });
  const header = `# ${lines.length} confident mistakes of model ${metadata.version} on ${where}`;
  writeFileSync(file, [header, ...lines].join('\n') + '\n');
  console.log(`\n${lines.length} confident mistakes listed in ${file}`);
}

async function mistakeTiles(max: number): Promise<{ png: string; caption: string }[]> {
  const wrong = mistakesByConfidence().slice(0, max);
  const size = metadata.inputSize;
  return Promise.all(
    wrong.map(async (o) => {
      const v = verdict(o.probabilityMale, metadata.policy);
      const png = await sharp(Buffer.from(o.crop), { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toBuffer();
      const truth = o.entry.label === 1 ? 'male' : 'female';
      return {
        png: png.toString('base64'),
        caption: `${o.entry.name}: is ${truth}, shown ${v.label} (${Math.round(100 * v.confidence)}%)`,
      };
    }),
  );
}
