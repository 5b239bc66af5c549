/**
 * How much several of our models gain together (issue 15), on validation data: each model scores every
 * validation crop (with its mirror, as the app scores a photo), and each model alone and every set of them is scored by
 * the mean of their calibrated logits. An ensemble that gains is a teacher with more capacity than one student (§28 of
 * docs/experiments.md). Run:
 *   npx tsx training/experiments/ensemble.ts --model <dir> --model <dir> [...] \
 *     ../shared/data/celeba/Dataset ../shared/data/diverse
 * The crops are the training cache's (the crop settings of the first model), Validation/ for Kaggle-layout folders
 * and the held-out tenth for plain ones. Prints each set's balanced accuracy per folder, the lower of them (the rule
 * that chooses epochs) and, for folders with a "race" column in labels.csv, the worst race's accuracy.
 */
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { meanLogit } from '../../src/core/calibration';
import { groupRecords, groupStats, spread } from '../../src/core/groups';
import { balancedAccuracy, confusion } from '../../src/core/metrics';
import { loadSources, readModelDir, scoreSplits } from '../cli/common';
import { groupsOf } from '../lib/data/labels';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

const { values, positionals } = parseArgs({
  options: { model: { type: 'string', multiple: true } },
  allowPositionals: true,
});
const models = values.model ?? [];
if (models.length < 2 || positionals.length === 0) {
  console.error('usage: ensemble.ts --model <dir> --model <dir> [...] <data dir> [...]');
  process.exit(2);
}
await initTrainingBackend();
const { crop } = readModelDir(models[0]);
const sources = await loadSources(positionals, crop);

/** probs[model][source]: each validation crop's probability of "male". */
const probs: Float32Array[][] = [];
const validation = sources.map((s) => s.validation);
for (const dir of models) {
  probs.push(await scoreSplits(dir, validation));
  process.stderr.write(`${dir}: scored\n`);
}

/** Each validation crop's race, where labels.csv gives one; null for folders without a "race" column. */
const races = sources.map((s) => groupsOf(s.dataset.root, 'race', s.validation.names));
/** The worst race's accuracy, ranked as `evaluate --by race` ranks groups. */
function worstRace(p: Float32Array, source: number): number | null {
  const race = races[source];
  if (!race) return null;
  return spread(groupStats(groupRecords(race, sources[source].validation.y, p))).worst?.accuracy ?? null;
}

const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(2)} %`);
const subsets = Array.from({ length: 2 ** models.length - 1 }, (_, k) =>
  models.flatMap((_, m) => ((k + 1) & (1 << m) ? [m] : [])),
);
const rows = subsets.map((members) => {
  const each = sources.map((s, j) => {
    const p = Float32Array.from(s.validation.y, (_, i) => meanLogit(members.map((m) => probs[m][j][i])));
    return { balanced: balancedAccuracy(confusion(p, s.validation.y)), worst: worstRace(p, j) };
  });
  return { members, each, rule: Math.min(...each.map((e) => e.balanced)) };
});
rows.sort((a, b) => b.rule - a.rule);
const names = sources.map((s) => s.name);
const raced = names.filter((_, j) => races[j]);
console.log(
  `| models | ${names.map((n) => `${n} balanced`).join(' | ')} | the rule (lower) | ${raced
    .map((n) => `${n} worst race`)
    .join(' | ')} |`,
);
console.log(`| --- |${names.map(() => ' --- |').join('')} --- |${raced.map(() => ' --- |').join('')}`);
for (const { members, each, rule } of rows) {
  const label = members.map((m) => basename(models[m])).join(' + ');
  const worst = each.filter((_, j) => races[j]).map((e) => pct(e.worst));
  console.log(`| ${label} | ${each.map((e) => pct(e.balanced)).join(' | ')} | ${pct(rule)} | ${worst.join(' | ')} |`);
}
