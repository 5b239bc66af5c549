import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundToGrid } from '../../src/core/packed-weights';
import { storedBytes } from '../../src/vision/packed-model';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { loadModelFiles, packedAxis, saveModelFiles } from '../../training/lib/model/model-files';
import { maxRelativeDiff, SHIPPED_MODEL } from '../support/models';

const dir = mkdtempSync(join(tmpdir(), 'facesense-uint4-'));

beforeAll(async () => {
  await initTrainingBackend('wasm');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('uint4 export', () => {
  it('packs every kernel by output channel, and loads back as those grids with the rest as it was', async () => {
    const model = await loadModelFiles(SHIPPED_MODEL);
    await saveModelFiles(model, dir, 'uint4');
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const specs: tf.io.WeightsManifestEntry[] = json.weightsManifest[0].weights;
    const axes = specs.map((s) => ('packed' in s ? (s.packed as { axis: number }).axis : null));
    expect(axes).toEqual(specs.map((s) => packedAxis(s.name, s.shape)));
    expect(axes.filter((a) => a === 2).length).toBeGreaterThan(0);
    expect(statSync(join(dir, 'weights.bin')).size).toBe(specs.reduce((sum, s) => sum + storedBytes(s), 0));

    const loaded = await loadModelFiles(dir);
    const expected = model.weights.map((w) => {
      const values = w.read().dataSync() as Float32Array;
      const axis = packedAxis(w.originalName, w.shape as number[]);
      return axis === null ? values : roundToGrid(values, { shape: w.shape as number[], axis }, 4);
    });
    loaded.weights.forEach((w, i) => expect(w.read().dataSync()).toEqual(expected[i]));

    // The loaded model computes what the original does at those weights.
    const tensors = expected.map((v, i) => tf.tensor(v, model.weights[i].shape as number[]));
    model.setWeights(tensors);
    const x = tf.randomUniform([4, 64, 64, 3], 0, 255, 'float32', 5);
    expect(await maxRelativeDiff(model, loaded, x)).toBeLessThan(1e-6);
    tf.dispose([...tensors, x]);
    model.dispose();
    loaded.dispose();
  });
});
