import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/augment';
import { foldBatchNorm } from '../../training/lib/model/fold';
import { buildModel } from '../../training/lib/model/models';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';

beforeAll(async () => {
  await initTrainingBackend('wasm');
});

/** Gives every BatchNormalization the statistics of a trained model: no layer is left an identity. */
function randomiseNorms(model: tfl.LayersModel, seed: number): void {
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

async function maxRelativeDiff(a: tfl.LayersModel, b: tfl.LayersModel, x: tf.Tensor): Promise<number> {
  const [pa, pb] = [a, b].map((m) => m.predict(x) as tf.Tensor);
  const [va, vb] = await Promise.all([pa.data(), pb.data()]);
  tf.dispose([pa, pb]);
  return Math.max(...Array.from(va, (v, i) => Math.abs(v - vb[i]) / Math.max(1e-3, Math.abs(v))));
}

describe('foldBatchNorm', () => {
  it('gives the compact model the same outputs with a third of the layers', async () => {
    const model = buildModel('compact', { inputSize: 64 });
    randomiseNorms(model, 1);
    const folded = await foldBatchNorm(model);
    const x = tf.randomUniform([4, 64, 64, 3], 0, 255, 'float32', 7);
    expect(await maxRelativeDiff(model, folded, x)).toBeLessThan(1e-4);
    expect(folded.layers.filter((l) => l.getClassName() === 'BatchNormalization')).toEqual([]);
    expect(folded.layers.filter((l) => l.getClassName() === 'ReLU')).toEqual([]);
    expect(folded.layers.length).toBeLessThan(model.layers.length / 2);
    expect(folded.inputs[0].shape).toEqual(model.inputs[0].shape);
    tf.dispose(x);
    model.dispose();
    folded.dispose();
  });

  it('keeps a convolution bias, folds a normalisation with no ReLU after it, and leaves other layers alone', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 3, useBias: true, biasInitializer: 'ones' }),
        tfl.layers.batchNormalization(),
        tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, useBias: false }),
        tfl.layers.batchNormalization(),
        tfl.layers.reLU({ maxValue: 6 }),
        tfl.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu' }),
        tfl.layers.batchNormalization(),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 1, activation: 'sigmoid' }),
      ],
    });
    randomiseNorms(model, 2);
    const folded = await foldBatchNorm(model);
    expect(folded.layers.map((l) => l.getClassName())).toEqual([
      'Conv2D',
      'DepthwiseConv2D',
      'ReLU',
      'Conv2D',
      'BatchNormalization',
      'GlobalAveragePooling2D',
      'Dense',
    ]);
    const x = tf.randomNormal([3, 9, 9, 2], 0, 3, 'float32', 5);
    expect(await maxRelativeDiff(model, folded, x)).toBeLessThan(1e-4);
    tf.dispose(x);
    model.dispose();
    folded.dispose();
  });

  it('leaks no tensors', async () => {
    const model = buildModel('compact', { inputSize: 64 });
    const before = tf.memory().numTensors;
    const folded = await foldBatchNorm(model);
    folded.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
