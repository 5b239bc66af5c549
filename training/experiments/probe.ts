/**
 * A third-party face network's embedding of our crops, and a linear probe on it: shared by embedding-probe.ts (does
 * the network know more than our model?) and probe-teacher.ts (its probe as a distillation teacher).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { groupRecords, groupStats, spread } from '../../src/core/groups';
import { balancedAccuracy, confusion } from '../../src/core/metrics';
import { groupsOf } from '../lib/data/labels';
import { batchTensors, type SplitData } from '../lib/data/splits';

/** `--input`'s ranges, as the factor and the offset that take 0–255 to each. */
export const INPUT_RANGES: Record<string, readonly [number, number]> = {
  '255': [1, 0],
  '1': [1 / 255, 0],
  '2': [1 / 127.5, -1],
};

export interface EmbedOptions {
  /** The node to read (default: the network's output). */
  output?: string;
  /** Factor and offset that take 0–255 to the network's input range. */
  range: readonly [number, number];
  /** The share of our crop, about its centre, that the network sees (1: all of it). */
  centre: number;
  /** Called after each batch with the crops embedded so far. */
  onBatch?: (done: number) => void;
}

/** The network's embedding of each crop at `indices`, as rows of a [indices.length, dim] matrix. */
export async function embed(
  net: GraphModel,
  data: SplitData,
  indices: readonly number[],
  { output, range: [factor, offset], centre, onBatch }: EmbedOptions,
): Promise<{ rows: Float32Array; dim: number }> {
  const side = net.inputs[0].shape![1];
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
      const out = (output ? net.execute(input, output) : net.execute(input)) as tf.Tensor;
      return tf.reshape(out, [batch.length, -1]);
    });
    dim = e.shape[1]!;
    parts.push((await e.data()) as Float32Array);
    tf.dispose([x, y, e]);
    onBatch?.(start + batch.length);
  }
  const rows = new Float32Array(indices.length * dim);
  parts.reduce((at, p) => (rows.set(p, at), at + p.length), 0);
  return { rows, dim };
}

/**
 * Class-balanced logistic regression on standardised features by full-batch gradient descent, which converges on a
 * problem this size (a few thousand rows, ≤ 1024 features) in a few thousand steps. Returns P(male) of a matrix's rows.
 */
export function fitProbe(
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

export const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

/**
 * `p`'s balanced accuracy on a folder's validation crops, with the worst race's accuracy (ranked as
 * `evaluate --by race` ranks groups) where the folder's labels.csv has a race column.
 */
export function scoredOn(p: Float32Array, root: string, validation: SplitData): string {
  const race = groupsOf(root, 'race', validation.names);
  const worst = race && spread(groupStats(groupRecords(race, validation.y, p))).worst;
  const balanced = pct(balancedAccuracy(confusion(p, validation.y)));
  return worst ? `${balanced} (worst ${worst.group} ${pct(worst.accuracy)})` : balanced;
}
