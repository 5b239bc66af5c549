/**
 * A third-party face network's linear probe as a distillation teacher (issue 15; §39 of docs/experiments.md): §34's
 * probe, fitted on all of a folder's Train crops, writes each Train crop's probability of "male" for
 * `npm run train -- --teacher-probs <file>`. Each crop's probability comes from a probe fitted on the other folds
 * (cross-fitting), so that it is what the probe says of a face it did not fit, as it would be for a new face. Run:
 *   npx tsx training/experiments/probe-teacher.ts --net <model.json> [--output <node>] [--input 255|1|2]
 *     [--centre <x>] [--l2 <λ>] [--folds <k>] [--with <model dir>] --out <file.json> ../shared/data/diverse
 * The options are embedding-probe.ts's. It also prints the probe's balanced accuracy on the folder's validation crops
 * (fitted on all of Train), and with --with, our model's and the two together (the mean of their logits), with the
 * worst race.
 */
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { meanLogit } from '../../src/core/calibration';
import { balancedAccuracy, confusion } from '../../src/core/metrics';
import { DEFAULT_MODEL_DIR, loadSources, readModelDir, scoreSplits } from '../cli/common';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { fileModelHandler } from '../lib/node-io';
import { embed, fitProbe, INPUT_RANGES, pct, scoredOn } from './probe';

const { values, positionals } = parseArgs({
  options: {
    net: { type: 'string' },
    output: { type: 'string' },
    input: { type: 'string', default: '255' },
    centre: { type: 'string', default: '1' },
    l2: { type: 'string', default: '0.001' },
    folds: { type: 'string', default: '5' },
    with: { type: 'string' },
    out: { type: 'string' },
  },
  allowPositionals: true,
});
const range = INPUT_RANGES[values.input] as readonly [number, number] | undefined;
const centre = Number(values.centre);
const l2 = Number(values.l2);
const folds = Number(values.folds);
if (
  !values.net ||
  !values.out ||
  positionals.length !== 1 ||
  range === undefined ||
  !(centre > 0 && centre <= 1) ||
  !(l2 >= 0) ||
  !(Number.isInteger(folds) && folds >= 2)
) {
  console.error(
    'usage: probe-teacher.ts --net <model.json> [--output <node>] [--input 255|1|2] [--centre <x>] [--l2 <λ>] [--folds <k>] [--with <model dir>] --out <file.json> <data dir>',
  );
  process.exit(2);
}
await initTrainingBackend();
const net = await loadGraphModel(fileModelHandler(values.net));
const { crop } = readModelDir(values.with ?? DEFAULT_MODEL_DIR);
const [source] = await loadSources(positionals, crop);

const options = {
  output: values.output,
  range,
  centre,
  onBatch: (done: number) => process.stderr.write(`\rembedded ${done} crops`),
};
const all = (n: number) => Array.from({ length: n }, (_, i) => i);
const train = await embed(net, source.train, all(source.train.n), options);
const validation = await embed(net, source.validation, all(source.validation.n), options);
process.stderr.write('\n');
const { dim } = train;

/** Rows `indices` of a [n, dim] matrix. */
const rowsOf = (m: Float32Array, indices: readonly number[]) => {
  const out = new Float32Array(indices.length * dim);
  indices.forEach((i, k) => out.set(m.subarray(i * dim, (i + 1) * dim), k * dim));
  return out;
};
// Train is sorted by class: every fold (every k-th crop) holds both.
const probs = new Float32Array(source.train.n);
for (let fold = 0; fold < folds; fold++) {
  const fitted = all(source.train.n).filter((i) => i % folds !== fold);
  const held = all(source.train.n).filter((i) => i % folds === fold);
  const predict = fitProbe(
    rowsOf(train.rows, fitted),
    fitted.map((i) => source.train.y[i]),
    dim,
    l2,
  );
  predict(rowsOf(train.rows, held)).forEach((p, k) => (probs[held[k]] = p));
  process.stderr.write(`fold ${fold + 1}/${folds} fitted\n`);
}
const scored = (p: Float32Array) => scoredOn(p, source.dataset.root, source.validation);
console.log(
  `${source.name} Train, ${source.train.n} crops, each by the probe of the other ${folds - 1} folds: ${pct(
    balancedAccuracy(confusion(probs, source.train.y)),
  )} balanced`,
);
const probe = fitProbe(train.rows, Array.from(source.train.y), dim, l2)(validation.rows);
console.log(
  `${source.name} validation, ${source.validation.n} crops: the probe fitted on all of Train ${scored(probe)}`,
);
if (values.with) {
  const [ours] = await scoreSplits(values.with, [source.validation]);
  const both = Float32Array.from(probe, (q, i) => meanLogit([q, ours[i]]));
  console.log(`  ${values.with} (with its mirror) ${scored(ours)}; the two together ${scored(both)}`);
}
writeFileSync(
  values.out,
  JSON.stringify({
    net: values.net,
    output: values.output ?? null,
    input: values.input,
    centre,
    l2,
    folds,
    source: source.name,
    // Kept off 0 and 1 by the rounding's step: a teacher's logit must be finite.
    probs: Object.fromEntries(
      source.train.names.map((name, i) => [name, Number(Math.min(Math.max(probs[i], 1e-5), 1 - 1e-5).toFixed(5))]),
    ),
  }),
);
console.log(`wrote ${values.out}`);
