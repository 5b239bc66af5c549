import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { buildModel } from '../../training/lib/model/models';
import { widenModel } from '../../training/lib/model/widen';
import { maxRelativeDiff, randomiseNorms } from '../support/models';

beforeAll(async () => {
  await initTrainingBackend('wasm');
});

describe('widenModel', () => {
  it('gives the wide net the compact net’s outputs, with every layer wider', async () => {
    const compact = buildModel('compact', { inputSize: 64, seed: 4 });
    const x = tf.randomUniform([6, 64, 64, 3], 0, 255, 'float32', 13);
    randomiseNorms(compact, 4, x);
    const wide = buildModel('wide', { inputSize: 64, seed: 5 });
    expect(wide.countParams()).toBe(446_601);
    const before = tf.memory().numTensors;
    widenModel(compact, wide, 1);
    expect(tf.memory().numTensors).toBe(before);
    expect(await maxRelativeDiff(compact, wide, x)).toBeLessThan(1e-4);

    // The copies' noise moves the outputs a little, not to another function.
    const noisy = buildModel('wide', { inputSize: 64, seed: 5 });
    widenModel(compact, noisy, 1, 0.01);
    const drift = await maxRelativeDiff(compact, noisy, x);
    expect(drift).toBeGreaterThan(0);
    expect(drift).toBeLessThan(0.05);
    tf.dispose(x);
    [compact, wide, noisy].forEach((m) => m.dispose());
  });

  it('gives the wider net the wide net’s outputs, so a trained wide model can start it', async () => {
    const wide = buildModel('wide', { inputSize: 64, seed: 6 });
    const x = tf.randomUniform([4, 64, 64, 3], 0, 255, 'float32', 17);
    randomiseNorms(wide, 6, x);
    const wider = buildModel('wider', { inputSize: 64, seed: 7 });
    expect(wider.countParams()).toBe(871_845);
    widenModel(wide, wider, 2);
    expect(await maxRelativeDiff(wide, wider, x)).toBeLessThan(1e-4);
    tf.dispose(x);
    [wide, wider].forEach((m) => m.dispose());
  });

  it('refuses networks whose layers do not pair up', () => {
    const wide = buildModel('wide', { inputSize: 64 });
    const seed = buildModel('seed', { inputSize: 64 });
    expect(() => widenModel(wide, buildModel('compact', { inputSize: 64 }), 1)).toThrow(/cannot narrow/);
    expect(() => widenModel(seed, wide, 1)).toThrow(/differ in depth|is conv1 in one network/);
    [wide, seed].forEach((m) => m.dispose());
  });
});
