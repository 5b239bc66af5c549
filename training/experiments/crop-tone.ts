/**
 * What the model reads from a face's tone and colour (issue 15), on validation data and without training: each
 * validation crop scored as it is, with its brightness and contrast standardised, with its mean brightness alone
 * standardised, and turned grey (§30 of docs/experiments.md). A gain from standardising would point at lighting;
 * a loss from grey at colour the model relies on. Run:
 *   npx tsx training/experiments/crop-tone.ts [--model <dir>] ../shared/data/celeba/Dataset ../shared/data/diverse
 * The crops are the training cache's (the model's crop settings), Validation/ for Kaggle-layout folders and the
 * held-out tenth for plain ones, each scored with its mirror image as the app scores a photo. Prints each folder's
 * balanced accuracy and, for folders with a "race" column in labels.csv, each race's accuracy and female recall.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { groupRecords, groupStats, spread, type GroupRecord } from '../../src/core/groups';
import { balancedAccuracy, confusion } from '../../src/core/metrics';
import { withFlipAveraging } from '../../src/vision/classifier';
import { loadClassifierDir, loadSources, readModelDir } from '../cli/common';
import { groupsOf } from '../lib/data/labels';
import { predictSplit } from '../lib/data/splits';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

/** The mean and spread every crop is standardised to: about those of the validation crops. */
const MEAN = 110;
const SPREAD = 60;

const { values, positionals } = parseArgs({
  options: { model: { type: 'string', default: 'public/models/gender' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error('usage: crop-tone.ts [--model <dir>] <data dir> [...]');
  process.exit(2);
}
await initTrainingBackend();
const { crop } = readModelDir(values.model);
const sources = await loadSources(positionals, crop);
const classifier = withFlipAveraging(await loadClassifierDir(values.model));

const clip = (x: tf.Tensor) => tf.clipByValue(x, 0, 255) as tf.Tensor4D;
const CHANGES: Record<string, (x: tf.Tensor4D) => tf.Tensor4D> = {
  'as cut': (x) => x,
  'brightness and contrast standardised': (x) => {
    const { mean, variance } = tf.moments(x, [1, 2, 3], true);
    return clip(tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.add(tf.sqrt(variance), 1)), SPREAD), MEAN));
  },
  'mean brightness standardised': (x) => clip(tf.add(tf.sub(x, tf.mean(x, [1, 2, 3], true)), MEAN)),
  grey: (x) => tf.tile(tf.mean(x, 3, true), [1, 1, 1, 3]) as tf.Tensor4D,
};

const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)}`);
const races = sources.map((s) => groupsOf(s.dataset.root, 'race', s.validation.names));
const raceNames = [...new Set(races.flat())].filter((r): r is string => r !== null).sort();
console.log(
  `| crop | ${sources.map((s) => `${s.name} balanced`).join(' | ')} | worst race | ${raceNames.map((r) => `${r}: acc / F recall`).join(' | ')} |`,
);
console.log(`| --- |${sources.map(() => ' --- |').join('')} --- |${raceNames.map(() => ' --- |').join('')}`);
for (const [name, change] of Object.entries(CHANGES)) {
  const cells: string[] = [];
  const records: GroupRecord[] = [];
  for (const [j, s] of sources.entries()) {
    const p = await predictSplit((x) => classifier.predict(change(x)), s.validation);
    cells.push(`${(100 * balancedAccuracy(confusion(p, s.validation.y))).toFixed(2)} %`);
    const race = races[j];
    if (race) records.push(...groupRecords(race, s.validation.y, p));
  }
  const stats = groupStats(records);
  const worst = spread(stats).worst;
  const perRace = raceNames.map((r) => `${pct(stats[r]?.accuracy ?? null)} / ${pct(stats[r]?.femaleRecall ?? null)}`);
  console.log(
    `| ${name} | ${cells.join(' | ')} | ${worst ? `${worst.group} ${pct(worst.accuracy)} %` : '–'} | ${perRace.join(' | ')} |`,
  );
}
