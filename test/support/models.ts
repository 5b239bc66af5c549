import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { mulberry32 } from '../../src/core/augment';

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
