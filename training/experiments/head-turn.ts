/**
 * Where the mistakes are by how far the head is turned (yaw; issue 15, §52 of docs/experiments.md): the confident
 * mistakes on `fairface`'s weakest groups are, by eye, mostly faces turned away, older faces and dark or blurred
 * frames. This measures the first on validation data: the nose tip's offset from the midpoint of the eyes, along the
 * eye line and in widths of the face box (BlazeFace's keypoints; 0 for a face looking at the camera, at most about
 * 0.35 on `diverse`), and the model's accuracy in bands of it, over all faces and for each race × sex where the
 * folder's labels.csv has a race. Each face is scored with its mirror image, as the app scores a photo; `--shift
 * s,…` and `--grow g,…` score it also with its box moved s times the nose's offset towards the back of the head and
 * made g times larger about its centre (each pair), to see whether a turned face is only cut off-centre or too
 * close. Run:
 *   npx tsx training/experiments/head-turn.ts [--model <dir>] [--split Validation|all] [--shift=-0.5,0,0.5] \
 *     [--grow 1,1.2] [--write-labels <file>] <data dir> [...]
 * Kaggle-layout folders are read from Validation/, plain {Male,Female} folders from their held-out tenth; `--split
 * all` reads every image of a plain folder (for the report-only `fairface`, or with `--write-labels`, for training).
 */
import * as tf from '@tensorflow/tfjs-core';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { withFlipAveraging } from '../../src/vision/classifier';
import { cropFaces } from '../../src/vision/crop';
import { scaleBox, type Box } from '../../src/core/geometry';
import { loadBlazeFace, type DetectedFace } from '../../src/vision/detector';
import { loadClassifierDir, readModelDir } from '../cli/common';
import { listDataset } from '../lib/data/dataset';
import { stillFaces } from '../lib/data/images';
import { groupsOf, readLabels } from '../lib/data/labels';
import { inSplit } from '../lib/data/splits';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { blazeFaceModels } from '../lib/node-io';

const BANDS = [0, 0.05, 0.1, 0.15, Infinity];
const TURNED = BANDS.length - 2;

const { values, positionals } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/gender' },
    split: { type: 'string', default: 'Validation' },
    shift: { type: 'string', default: '0' },
    grow: { type: 'string', default: '1' },
    'write-labels': { type: 'string' },
  },
  allowPositionals: true,
});
const shifts = values.shift.split(',').map(Number);
const grows = values.grow.split(',').map(Number);
const views = shifts.flatMap((shift) => grows.map((grow) => ({ shift, grow })));
const labelsOut = values['write-labels'];
if (
  positionals.length === 0 ||
  !['Validation', 'all'].includes(values.split) ||
  views.some((v) => Number.isNaN(v.shift) || !(v.grow > 0)) ||
  (labelsOut && positionals.length > 1)
) {
  console.error(
    'usage: head-turn.ts [--model <dir>] [--split Validation|all] [--shift 0,0.5,…] [--grow 1,1.2,…] ' +
      '[--write-labels <file>] <data dir> [...] (one data dir with --write-labels)',
  );
  process.exit(2);
}
await initTrainingBackend();
const { crop } = readModelDir(values.model);
const detector = await loadBlazeFace(blazeFaceModels());
const classifier = withFlipAveraging(await loadClassifierDir(values.model));

/**
 * The nose tip's offset from the eyes' midpoint along the eye line, in pixels (BlazeFace's keypoints: right eye,
 * left eye, nose), and that line's unit vector.
 */
function noseOffset({ landmarks: [right, left, nose] }: DetectedFace): { along: number; unit: [number, number] } {
  const length = Math.hypot(left[0] - right[0], left[1] - right[1]);
  const unit: [number, number] = [(left[0] - right[0]) / length, (left[1] - right[1]) / length];
  const along = (nose[0] - (right[0] + left[0]) / 2) * unit[0] + (nose[1] - (right[1] + left[1]) / 2) * unit[1];
  return { along, unit };
}

/**
 * The face box moved `shift` times the nose's offset away from the nose, towards the back of the head, and made
 * `grow` times larger about its centre.
 */
function moved(face: DetectedFace, { shift, grow }: { shift: number; grow: number }): Box {
  const { along, unit } = noseOffset(face);
  const box = scaleBox(face.box, grow);
  return { ...box, x: box.x - shift * along * unit[0], y: box.y - shift * along * unit[1] };
}

const bandOf = (face: DetectedFace) =>
  BANDS.findIndex((_, k) => Math.abs(noseOffset(face).along) / face.box.width < BANDS[k + 1]);
const bandName = (k: number) => (Number.isFinite(BANDS[k + 1]) ? `${BANDS[k]}–${BANDS[k + 1]}` : `${BANDS[k]} or more`);
const pct = (k: number, n: number) => (n === 0 ? '–' : `${((100 * k) / n).toFixed(1)} %`);
type Tally = { faces: number; right: number[] };

/**
 * The folder's labels.csv with a `turn` column added (turned: the nose 0.15 box widths or more off the eyes'
 * midpoint; frontal; blank without a face) for the images read, written to `file`: beside symbolic links to the
 * folder's images, it lets `npm run train -- --balance race+turn` draw turned faces as often in both classes (§52).
 */
function writeLabels(root: string, turns: ReadonlyMap<string, string>, file: string): void {
  const csv = readLabels(root);
  if (!csv?.columns.includes('file')) throw new Error(`${root}: no labels.csv with a "file" column`);
  const field = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = [
    [...csv.columns, 'turn'],
    ...csv.rows.map((r) => [...csv.columns.map((c) => r[c]), turns.get(r.file) ?? '']),
  ];
  writeFileSync(file, lines.map((l) => l.map(field).join(',')).join('\n') + '\n');
}

for (const dir of positionals) {
  const dataset = listDataset(dir);
  const entries = values.split === 'all' ? dataset.entries : dataset.entries.filter(inSplit(dataset, 'Validation'));
  const races = groupsOf(
    dataset.root,
    'race',
    entries.map((e) => e.name),
  );
  /** Per band, faces and right answers in each view: for all faces and per race × sex. */
  const tally = new Map<string, Tally[]>();
  const count = (key: string, band: number, right: boolean[]) => {
    if (!tally.has(key))
      tally.set(
        key,
        BANDS.slice(1).map(() => ({ faces: 0, right: views.map(() => 0) })),
      );
    const b = tally.get(key)![band];
    b.faces++;
    right.forEach((r, k) => r && b.right[k]++);
  };
  /** Each image's band name for --write-labels: turned or frontal. */
  const turnOfFile = new Map<string, string>();
  for await (const { index, image, face } of stillFaces(
    entries.map((e) => e.path),
    detector,
  )) {
    const { label, name } = entries[index];
    const race = races?.[index] ?? null;
    const p = tf.tidy(() =>
      classifier.predict(
        cropFaces(
          image,
          views.map((v) => moved(face, v)),
          crop,
        ),
      ),
    );
    const right = Array.from(await p.data(), (probabilityMale) => probabilityMale > 0.5 === (label === 1));
    tf.dispose([p, image]);
    const band = bandOf(face);
    turnOfFile.set(name, band === TURNED ? 'turned' : 'frontal');
    count('all', band, right);
    if (race) count(`${race} ${label === 1 ? 'men' : 'women'}`, band, right);
    if ((index + 1) % 500 === 0) process.stderr.write(`${dir}: ${index + 1}/${entries.length}\n`);
  }
  if (labelsOut) writeLabels(dataset.root, turnOfFile, labelsOut);
  const all = tally.get('all')!;
  const faces = all.reduce((n, b) => n + b.faces, 0);
  console.log(`\n${dir} (${values.split}): ${entries.length} images, ${faces} faces\n`);
  const viewColumns = views.map((v) => `shift ${v.shift}${v.grow === 1 ? '' : `, ×${v.grow}`}`).join(' | ');
  console.log(`| nose offset (box widths) | share of faces | accuracy: ${viewColumns} |`);
  console.log(`| --- | --- |${views.map(() => ' --- |').join('')}`);
  /** Faces in `bands`, and the accuracy in each view over them. */
  const accuracies = (bands: Tally[]) => {
    const n = bands.reduce((t, b) => t + b.faces, 0);
    return {
      n,
      shown: views
        .map((_, k) =>
          pct(
            bands.reduce((t, b) => t + b.right[k], 0),
            n,
          ),
        )
        .join(' | '),
    };
  };
  const row = (name: string, bands: Tally[]) => {
    const { n, shown } = accuracies(bands);
    return `| ${name} | ${pct(n, faces)} | ${shown} |`;
  };
  all.forEach((b, k) => console.log(row(bandName(k), [b])));
  console.log(row('all', all));
  if (tally.size === 1) continue;
  console.log(`\nPer race and sex: faces turned ${bandName(TURNED)} box widths, and the rest\n`);
  console.log(`| group | turned: share | accuracy: ${viewColumns} | the rest: ${viewColumns} |`);
  console.log(`| --- | --- |${views.map(() => ' --- |').join('')}${views.map(() => ' --- |').join('')}`);
  for (const [key, bands] of [...tally].filter(([k]) => k !== 'all').sort(([a], [b]) => a.localeCompare(b))) {
    const n = bands.reduce((t, b) => t + b.faces, 0);
    const turned = accuracies([bands[TURNED]]);
    const rest = accuracies(bands.slice(0, TURNED));
    console.log(`| ${key} (${n}) | ${pct(turned.n, n)} | ${turned.shown} | ${rest.shown} |`);
  }
}
