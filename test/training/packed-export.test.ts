import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundToGrid } from '../../src/core/packed-weights';
import { storedBytes } from '../../src/vision/packed-model';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { atRoundedKernels } from '../../training/lib/fit/quantized';
import { inferenceForm } from '../../training/lib/model/exporter';
import { loadModelFiles, packedAxis, saveModelFiles } from '../../training/lib/model/model-files';
import { buildModel } from '../../training/lib/model/models';
import { maxRelativeDiff, randomiseNorms, SHIPPED_MODEL } from '../support/models';

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

  it('stores a net trained at rounded kernels as the net that was scored: BatchNorm folds in along the grids', async () => {
    const x = tf.randomUniform([8, 64, 64, 3], 0, 255, 'float32', 9);
    const model = buildModel('wide', { inputSize: 64 });
    randomiseNorms(model, 4, x);
    const exact = model.getWeights().map((w) => w.dataSync().slice());
    const predict = async () => (model.predict(x) as tf.Tensor).data();
    const float = await predict();
    const scored = await atRoundedKernels(model, predict);
    model.getWeights().forEach((w, i) => expect(w.dataSync()).toEqual(exact[i]));

    const folded = await inferenceForm(model, 'uint4');
    const out = join(dir, 'folded');
    await saveModelFiles(folded, out, 'uint4');
    const loaded = await loadModelFiles(out);
    const stored = await (loaded.predict(x) as tf.Tensor).data();
    const gap = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    expect(gap(stored, scored)).toBeLessThan(1e-6);
    expect(gap(float, scored)).toBeGreaterThan(1e-2);
    tf.dispose([x]);
    [model, folded, loaded].forEach((m) => m.dispose());
  });
});
