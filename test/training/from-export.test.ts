import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { foldBatchNorm } from '../../training/lib/model/fold';
import { modelFromExport } from '../../training/lib/model/from-export';
import { loadModelFiles, saveModelFiles } from '../../training/lib/model/model-files';
import { buildModel } from '../../training/lib/model/models';
import { maxRelativeDiff, randomiseNorms } from '../support/models';

const dir = mkdtempSync(join(tmpdir(), 'facesense-from-export-'));

beforeAll(async () => {
  await initTrainingBackend('wasm');
  // A compact model's export: BatchNorm folded, as `npm run train` writes public/models/gender.
  const trained = buildModel('compact', { inputSize: 64, seed: 3 });
  randomiseNorms(trained, 3);
  const folded = await foldBatchNorm(trained);
  await saveModelFiles(folded, dir);
  [trained, folded].forEach((m) => m.dispose());
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('modelFromExport', () => {
  it('gives a training model of the same network the export’s outputs, and a wider one nearly them', async () => {
    const sample = tf.randomUniform([32, 64, 64, 3], 0, 255, 'float32', 11) as tf.Tensor4D;
    const options = { inputSize: 64, seed: 9 };
    const exported = await loadModelFiles(dir);
    const before = tf.memory().numTensors;
    const compact = await modelFromExport(dir, 'compact', 'compact', sample, options);
    const wide = await modelFromExport(dir, 'compact', 'wide', sample, options);
    // Nothing is left behind but the two models' weights.
    expect(tf.memory().numTensors - before).toBe(compact.weights.length + wide.weights.length);
    expect(wide.countParams()).toBeGreaterThan(compact.countParams());
    expect(compact.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(true);
    expect(await maxRelativeDiff(exported, compact, sample)).toBeLessThan(1e-3);
    expect(await maxRelativeDiff(exported, wide, sample)).toBeLessThan(0.05);
    tf.dispose(sample);
    [exported, compact, wide].forEach((m) => m.dispose());
  });
});
