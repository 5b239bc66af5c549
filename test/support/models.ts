import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { join } from 'node:path';
import { mulberry32 } from '../../src/core/augment';
import { REPO_ROOT } from '../../training/lib/node-io';

/** The model the app ships: a trained net, whose outputs depend on its input as an untrained one's barely do. */
export const SHIPPED_MODEL = join(REPO_ROOT, 'public', 'models', 'gender');

/** Gives every BatchNormalization the statistics of a trained model: no layer is left an identity. */
export function randomiseNorms(model: tfl.LayersModel, seed: number): void {
  const rng = mulberry32(seed);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.getWeights().map((w, i) =>
      tf.tensor(
        Array.from({ length: w.size }, () => (i === 3 ? 0.05 + 2 * rng() : i === 0 ? 0.2 + 1.5 * rng() : rng() - 0.5)),
        w.shape,
      ),
    );
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** The largest difference between two models' outputs on `x`, relative to the first's (at least 1e-3). */
export async function maxRelativeDiff(a: tfl.LayersModel, b: tfl.LayersModel, x: tf.Tensor): Promise<number> {
  const [pa, pb] = [a, b].map((m) => m.predict(x) as tf.Tensor);
  const [va, vb] = await Promise.all([pa.data(), pb.data()]);
  tf.dispose([pa, pb]);
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
