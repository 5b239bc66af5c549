import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { join } from 'node:path';
import { mulberry32 } from '../../src/core/augment';
import { REPO_ROOT } from '../../training/lib/node-io';

/** The model the app ships: a trained net, whose outputs depend on its input as an untrained one's barely do. */
export const SHIPPED_MODEL = join(REPO_ROOT, 'public', 'models', 'gender');

/**
 * Gives every BatchNormalization the statistics a trained model would have: the mean and variance of its input on
 * `sample`, layer after layer, and a random scale and shift. Random statistics instead saturate every ReLU6, and
 * the net then answers the same for every input, so that no comparison of two such nets can fail.
 */
export function randomiseNorms(model: tfl.LayersModel, seed: number, sample: tf.Tensor): void {
  const rng = mulberry32(seed);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const upTo = tfl.model({ inputs: model.inputs, outputs: layer.input as tfl.SymbolicTensor });
    const values = tf.tidy(() => {
      const input = upTo.predict(sample) as tf.Tensor;
      const { mean, variance } = tf.moments(input, [...Array(input.rank - 1).keys()]);
      const random = (lo: number, hi: number) =>
        tf.tensor(
          Array.from({ length: mean.size }, () => lo + (hi - lo) * rng()),
          mean.shape,
        );
      return [random(0.2, 1.7), random(-0.5, 0.5), mean, tf.mul(variance, random(0.5, 2))];
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/**
 * The largest difference between two models' outputs on `x`, relative to the first's (at least 1e-3). Throws when
 * the first model's outputs do not vary over `x`: two nets that ignore their input agree whatever their weights.
 */
export async function maxRelativeDiff(a: tfl.LayersModel, b: tfl.LayersModel, x: tf.Tensor): Promise<number> {
  const [pa, pb] = [a, b].map((m) => m.predict(x) as tf.Tensor);
  const [va, vb] = await Promise.all([pa.data(), pb.data()]);
  tf.dispose([pa, pb]);
  if (Math.max(...va) - Math.min(...va) < 1e-3) throw new Error(`${a.name}'s outputs do not depend on its input`);
  return Math.max(...Array.from(va, (v, i) => Math.abs(v - vb[i]) / Math.max(1e-3, Math.abs(v))));
}

/**
 * The same function with block1's depthwise channel `channel` `factor` times wider and block1_pw's weights on it
 * `factor` times narrower, as a fine-tune can leave one channel (ReLU passes a positive factor through).
 */
export function widenOneChannel(model: tfl.LayersModel, channel: number, factor: number): void {
  const [dw, pw] = [model.getLayer('block1_dw'), model.getLayer('block1_pw')];
  const [dwKernel, dwBias] = dw.getWeights();
  const [pwKernel, pwBias] = pw.getWeights();
  const channels = dwKernel.shape[2] as number;
  const mask = (by: number) => tf.tensor1d(Array.from({ length: channels }, (_, c) => (c === channel ? by : 1)));
  const next = tf.tidy(() => [
    tf.mul(dwKernel, tf.reshape(mask(factor), [1, 1, channels, 1])),
    tf.mul(dwBias, mask(factor)),
    tf.mul(pwKernel, tf.reshape(mask(1 / factor), [1, 1, channels, 1])),
  ]);
  dw.setWeights(next.slice(0, 2));
  pw.setWeights([next[2], pwBias]);
  tf.dispose(next);
}
