import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { foldBatchNorm, unfoldBatchNorm } from '../../training/lib/model/fold';
import { buildModel } from '../../training/lib/model/models';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { maxRelativeDiff, randomiseNorms } from '../support/models';

beforeAll(async () => {
  await initTrainingBackend('wasm');
});

describe('foldBatchNorm', () => {
  it('gives the compact model the same outputs with a third of the layers', async () => {
    const model = buildModel('compact', { inputSize: 64 });
    const x = tf.randomUniform([4, 64, 64, 3], 0, 255, 'float32', 7);
    randomiseNorms(model, 1, x);
    const folded = await foldBatchNorm(model);
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
    const x = tf.randomNormal([3, 9, 9, 2], 0, 3, 'float32', 5);
    randomiseNorms(model, 2, x);
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

describe('unfoldBatchNorm', () => {
  it('gives a fresh training model an exported model’s outputs, in inference and on a training-mode batch', async () => {
    const trained = buildModel('compact', { inputSize: 64, seed: 3 });
    const sample = tf.randomUniform([32, 64, 64, 3], 0, 255, 'float32', 11) as tf.Tensor4D;
    randomiseNorms(trained, 3, sample);
    const folded = await foldBatchNorm(trained);
    const fresh = buildModel('compact', { inputSize: 64, seed: 9 });
    const before = tf.memory().numTensors;
    unfoldBatchNorm(folded, fresh, sample);
    expect(tf.memory().numTensors).toBe(before);

    expect(await maxRelativeDiff(trained, fresh, sample)).toBeLessThan(1e-3);
    // In training mode each normalisation uses the batch's own statistics, which on the sample are the ones unfolded
    // (compared before the dropout, which training mode turns on).
    const features = (m: tfl.LayersModel) => tfl.model({ inputs: m.inputs, outputs: m.getLayer('gap').output });
    const [inTraining, inference] = tf.tidy(() => [
      features(fresh).apply(sample, { training: true }) as tf.Tensor,
      features(folded).predict(sample) as tf.Tensor,
    ]);
    const [a, b] = await Promise.all([inTraining.data(), inference.data()]);
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]) / Math.max(1e-2, Math.abs(b[i]))))).toBeLessThan(
      1e-3,
    );
    const refolded = await foldBatchNorm(fresh);
    const x = tf.randomUniform([4, 64, 64, 3], 0, 255, 'float32', 12);
    expect(await maxRelativeDiff(folded, refolded, x)).toBeLessThan(1e-3);
    tf.dispose([sample, x, inTraining, inference]);
    [trained, folded, fresh, refolded].forEach((m) => m.dispose());
  });

  it('says so when the exported model is another network', async () => {
    const folded = await foldBatchNorm(buildModel('seed', { inputSize: 64 }));
    const fresh = buildModel('compact', { inputSize: 64 });
    const sample = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
    expect(() => unfoldBatchNorm(folded, fresh, sample)).toThrow(/no layer stem/);
    tf.dispose(sample);
    folded.dispose();
    fresh.dispose();
  });
});
