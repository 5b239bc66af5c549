import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { averageModels } from '../../training/lib/model/average';
import { loadModelFiles, saveModelFiles } from '../../training/lib/model/model-files';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { maxRelativeDiff, SHIPPED_MODEL, widenOneChannel } from '../support/models';

const dir = mkdtempSync(join(tmpdir(), 'facesense-average-'));
beforeAll(async () => {
  await initTrainingBackend('wasm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A dense layer and a BatchNormalization whose weights (moving statistics too) are all `value`. */
async function saved(name: string, value: number, units = 3): Promise<string> {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [2], units }), tfl.layers.batchNormalization()],
  });
  model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, value)));
  const out = join(dir, name);
  await saveModelFiles(model, out);
  model.dispose();
  return out;
}

describe('averageModels', () => {
  it('gives every weight, moving statistics included, the mean of the models', async () => {
    const dirs = [await saved('a', 1), await saved('b', 2), await saved('c', 6)];
    const before = tf.memory().numTensors;
    const mean = await averageModels(dirs);
    const weights = mean.getWeights();
    expect(weights.map((w) => w.shape)).toEqual([[2, 3], [3], [3], [3], [3], [3]]);
    for (const w of weights) expect(Array.from(await w.data())).toEqual(Array(w.size).fill(3));
    // Only the averaged model's own variables remain.
    expect(tf.memory().numTensors - before).toBe(weights.length);
    mean.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('averages two exports of one function, their channels scaled apart, into that function', async () => {
    const shipped = await loadModelFiles(SHIPPED_MODEL);
    const rescaled = await loadModelFiles(SHIPPED_MODEL);
    widenOneChannel(rescaled, 3, 30);
    const out = join(dir, 'rescaled');
    await saveModelFiles(rescaled, out);
    const x = tf.randomUniform([8, 64, 64, 3], 0, 255, 'float32', 2);
    // Their plain mean would scale block1's channel 3 by 15.5 and the weights on it by 0.52: another function.
    const mean = await averageModels([SHIPPED_MODEL, out]);
    expect(await maxRelativeDiff(shipped, mean, x)).toBeLessThan(1e-4);
    tf.dispose(x);
    [shipped, rescaled, mean].forEach((m) => m.dispose());
  });

  it('refuses models of different architectures, and leaks nothing when it does', async () => {
    const dirs = [await saved('d', 1), await saved('wide', 1, 4)];
    const before = tf.memory().numTensors;
    await expect(averageModels(dirs)).rejects.toThrow(/another architecture/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
