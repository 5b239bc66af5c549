import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { identityWeights } from '../../training/lib/model/deepen';
import { dilateModel } from '../../training/lib/model/dilate';
import { foldBatchNorm } from '../../training/lib/model/fold';
import { modelFromExport } from '../../training/lib/model/from-export';
import { loadModelFiles, saveModelFiles } from '../../training/lib/model/model-files';
import { buildModel, type Arch } from '../../training/lib/model/models';
import { maxRelativeDiff, randomiseNorms } from '../support/models';

const dir = mkdtempSync(join(tmpdir(), 'facesense-from-export-'));
const wideDir = join(dir, 'wide');
const CONVOLUTION = /Conv2D$/;

/** An export of a model of `arch`: BatchNorm folded, as `npm run train` writes public/models/gender. */
async function exportModel(arch: Arch, to: string): Promise<void> {
  const trained = buildModel(arch, { inputSize: 64, seed: 3 });
  const sample = crops(3);
  randomiseNorms(trained, 3, sample);
  const folded = await foldBatchNorm(trained);
  await saveModelFiles(folded, to);
  tf.dispose(sample);
  [trained, folded].forEach((m) => m.dispose());
}

beforeAll(async () => {
  await initTrainingBackend('wasm');
  await exportModel('compact', dir);
  await exportModel('wide', wideDir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OPTIONS = { inputSize: 64, seed: 9 };
/** 32 raw 0–255 crops to unfold on. */
const crops = (seed: number) => tf.randomUniform([32, 64, 64, 3], 0, 255, 'float32', seed) as tf.Tensor4D;

describe('modelFromExport', () => {
  it('gives a training model of the same network the export’s outputs, and a wider one nearly them', async () => {
    const sample = crops(11);
    const exported = await loadModelFiles(dir);
    const before = tf.memory().numTensors;
    const compact = await modelFromExport(dir, 'compact', 'compact', sample, OPTIONS);
    const wide = await modelFromExport(dir, 'compact', 'wide', sample, OPTIONS);
    // Nothing is left behind but the two models' weights.
    expect(tf.memory().numTensors - before).toBe(compact.weights.length + wide.weights.length);
    expect(wide.countParams()).toBeGreaterThan(compact.countParams());
    expect(compact.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(true);
    expect(await maxRelativeDiff(exported, compact, sample)).toBeLessThan(1e-3);
    expect(await maxRelativeDiff(exported, wide, sample)).toBeLessThan(0.05);
    tf.dispose(sample);
    [exported, compact, wide].forEach((m) => m.dispose());
  });

  it('gives wide8 the wide export’s weights as they are', async () => {
    const sample = crops(12);
    const wide = await modelFromExport(wideDir, 'wide', 'wide', sample, OPTIONS);
    const wide8 = await modelFromExport(wideDir, 'wide', 'wide8', sample, OPTIONS);
    expect(wide8.getLayer('block6_pw_relu').outputShape).toEqual([null, 8, 8, 528]);
    const [a, b] = [wide, wide8].map((m) => m.getWeights().map((w) => Array.from(w.dataSync())));
    expect(b).toEqual(a);
    tf.dispose(sample);
    [wide, wide8].forEach((m) => m.dispose());
  });

  it('dilates a wide export into wide64: its stem at stride 1, its first filter’s taps two apart, the same outputs', async () => {
    const sample = crops(13);
    const exported = await loadModelFiles(wideDir);
    const before = tf.memory().numTensors;
    const wide64 = await modelFromExport(wideDir, 'wide', 'wide64', sample, OPTIONS);
    expect(tf.memory().numTensors - before).toBe(wide64.weights.length);
    expect(wide64.getLayer('stem_relu').outputShape).toEqual([null, 64, 64, 48]);
    expect(await maxRelativeDiff(exported, wide64, sample)).toBeLessThan(1e-3);
    const kernel = wide64.getLayer('block1_dw').getWeights()[0];
    const taps = tf.tidy(() => tf.sum(tf.abs(kernel), [2, 3]).arraySync() as number[][]);
    taps.forEach((row, i) => row.forEach((v, j) => expect(v > 0).toBe(i % 2 === 0 && j % 2 === 0)));
    tf.dispose(sample);
    [exported, wide64].forEach((m) => m.dispose());
  });

  it('refuses to dilate a layer into one of another shape, and leaves nothing behind', () => {
    const [wide, compact] = (['wide', 'compact'] as const).map((arch) => buildModel(arch, { inputSize: 64 }));
    const before = tf.memory().numTensors;
    expect(() => dilateModel(wide, compact)).toThrow(
      'dilateModel: stem is [3,3,3,48] in one network and [3,3,3,32] in the other',
    );
    expect(tf.memory().numTensors).toBe(before);
    [wide, compact].forEach((m) => m.dispose());
  });

  it('deepens a wide export: the deep net’s added blocks start as identities, so its outputs are the export’s', async () => {
    const sample = crops(14);
    const exported = await loadModelFiles(wideDir);
    const before = tf.memory().numTensors;
    const deep = await modelFromExport(wideDir, 'wide', 'deep', sample, OPTIONS);
    expect(tf.memory().numTensors - before).toBe(deep.weights.length);
    expect(deep.countParams()).toBe(489_809);
    expect(await maxRelativeDiff(exported, deep, sample)).toBeLessThan(1e-3);
    // The export's convolutions (its BatchNorms and ReLUs folded into them) keep their names; only the repeats' are new.
    const added = deep.layers
      .filter((l) => CONVOLUTION.test(l.getClassName()) && !exported.layers.some((e) => e.name === l.name))
      .map((l) => l.name);
    expect(added).toEqual(['block1r_dw', 'block1r_pw', 'block3r_dw', 'block3r_pw']);
    tf.dispose(sample);
    [exported, deep].forEach((m) => m.dispose());
  });

  it('refuses to start as an identity a layer that cannot pass its input through', () => {
    const deep = buildModel('deep', { inputSize: 64 });
    expect(() => identityWeights(deep.getLayer('stem'))).toThrow(
      'stem: a 3×3 Conv2D from 3 channels to 48 cannot start as an identity',
    );
    expect(() => identityWeights(deep.getLayer('block2_pw'))).toThrow(/from 88 channels to 176 cannot/);
    tf.dispose(identityWeights(deep.getLayer('block3r_pw')));
    deep.dispose();
  });
});
