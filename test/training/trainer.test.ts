import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { buildModel, withAuxHeads } from '../../training/lib/model/models';
import { createTrainer, type Gradients } from '../../training/lib/fit/trainer';

const SIZE = 16;

/** A separable toy problem: "male" images are bright, "female" ones dark, both noisy. */
function toyBatch(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return tf.tidy(() => {
    const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2));
    const level = tf.reshape(tf.add(70, tf.mul(y, 110)), [n, 1, 1, 1]);
    const x = tf.clipByValue(tf.add(level, tf.randomNormal([n, SIZE, SIZE, 3], 0, 30, 'float32', seed)), 0, 255);
    return { x: x as tf.Tensor4D, y };
  });
}

/** A logistic regression on the pixels: no BatchNorm or dropout, so training and inference mode agree. */
function denseNet(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [SIZE, SIZE, 3] }),
      tfl.layers.dense({
        units: 1,
        activation: 'sigmoid',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
      }),
    ],
  });
}

/** A conv and a pooled logistic unit, without BatchNorm or dropout: what `withAuxHeads` needs, deterministic. */
function pooledNet(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.rescaling({ scale: 1 / 127.5, offset: -1, inputShape: [SIZE, SIZE, 3] }),
      tfl.layers.conv2d({
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }),
      }),
      tfl.layers.globalAveragePooling2d({ name: 'gap' }),
      tfl.layers.dense({
        units: 1,
        activation: 'sigmoid',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }),
      }),
    ],
  });
}

beforeAll(async () => {
  await initTrainingBackend('wasm');
});

describe('createTrainer', () => {
  it('reduces the loss on a separable problem and learns it', () => {
    const model = buildModel('compact', { inputSize: SIZE, seed: 2 });
    const trainer = createTrainer(model, { lr: 3e-3 });
    const { x, y } = toyBatch(32, 1);
    const first = trainer.step(x, y);
    let last = first;
    for (let i = 0; i < 14; i++) last = trainer.step(x, y);
    expect(last.loss).toBeLessThan(first.loss * 0.5);
    expect(last.correct).toBe(32);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('updates BatchNorm moving statistics in training steps only', () => {
    const model = buildModel('compact', { inputSize: SIZE, seed: 2 });
    const trainer = createTrainer(model);
    const movingMean = model.getLayer('stem_bn').weights[2];
    const read = () => Array.from(movingMean.read().dataSync());
    expect(movingMean.name).toContain('moving_mean');
    const initial = read();
    const { x, y } = toyBatch(8, 2);
    trainer.evaluate(x, y);
    expect(read()).toEqual(initial);
    trainer.step(x, y);
    const afterStep = read();
    expect(afterStep).not.toEqual(initial);
    trainer.evaluate(x, y);
    expect(read()).toEqual(afterStep);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('is deterministic in inference mode (dropout off) and weights classes', () => {
    const model = buildModel('compact', { inputSize: SIZE, seed: 2 });
    const { x, y } = toyBatch(8, 3);
    expect(createTrainer(model).evaluate(x, y)).toEqual(createTrainer(model).evaluate(x, y));
    const plain = createTrainer(model).evaluate(x, y);
    // evaluate reports the unweighted loss; the weighted one shows up in training steps.
    const weighted = createTrainer(model, { lr: 0, classWeights: { female: 0, male: 0 } }).step(x, y);
    expect(weighted.loss).toBe(0);
    expect(plain.loss).toBeGreaterThan(0);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('leaks no tensors across steps, with and without micro-batches', () => {
    const model = buildModel('compact', { inputSize: SIZE, seed: 2 });
    const { x, y } = toyBatch(12, 4);
    for (const microBatch of [undefined, 5]) {
      const trainer = createTrainer(model, { microBatch });
      trainer.step(x, y); // creates the optimizer's moment variables
      const before = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      trainer.step(x, y);
      trainer.step(x, y);
      trainer.evaluate(x, y);
      expect(tf.memory().numTensors).toBe(before);
      expect(tf.engine().backend.numDataIds()).toBe(buffers);
      trainer.optimizer.dispose();
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it('sums micro-batch gradients into one full-batch update', () => {
    // BatchNorm would normalise each micro-batch differently, so compare on a model without it.
    const { x, y } = toyBatch(8, 5);
    const full = denseNet();
    const split = denseNet();
    const a = createTrainer(full, { lr: 1e-3, classWeights: { female: 1, male: 3 } }).step(x, y);
    const b = createTrainer(split, { lr: 1e-3, classWeights: { female: 1, male: 3 }, microBatch: 3 }).step(x, y);
    expect(b.correct).toBe(a.correct);
    expect(b.loss).toBeCloseTo(a.loss, 5);
    const [wa, wb] = [full, split].map((m) => m.getWeights()[0].dataSync());
    let diff = 0;
    for (let i = 0; i < wa.length; i++) diff = Math.max(diff, Math.abs(wa[i] - wb[i]));
    expect(diff).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    full.dispose();
    split.dispose();
  });

  /** A fresh dense net, a toy batch scaled to 0–1 (which keeps the sigmoid off its clipped ends), and its scores. */
  function scoredBatch(seed: number) {
    const model = denseNet();
    const batch = toyBatch(8, seed);
    const x = tf.div(batch.x, 255) as tf.Tensor4D;
    const probs = model.predict(x) as tf.Tensor;
    return { model, batch, x, probs, p: Array.from(probs.dataSync()) };
  }
  const crossEntropy = (t: number, q: number) => -(t * Math.log(q) + (1 - t) * Math.log(1 - q));

  it('smooths the labels of the training loss only', () => {
    const { model, batch, x, probs, p } = scoredBatch(7);
    const labels = Array.from(batch.y.dataSync());
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const epsilon = 0.2;
    const trainer = createTrainer(model, { lr: 0, labelSmoothing: epsilon });
    const plain = trainer.evaluate(x, batch.y);
    const smoothed = trainer.step(x, batch.y);
    // Labels 0 and 1 are aimed at as 0.1 and 0.9.
    expect(smoothed.loss).toBeCloseTo(mean(labels.map((t, i) => crossEntropy(t === 1 ? 0.9 : 0.1, p[i]))), 5);
    expect(plain.loss).toBeCloseTo(mean(labels.map((t, i) => crossEntropy(t, p[i]))), 5);
    const right = labels.filter((t, i) => (p[i] > 0.5 ? 1 : 0) === t).length;
    expect(smoothed.correct).toBe(right);
    expect(plain.correct).toBe(right);
    expect(() => createTrainer(model, { labelSmoothing: 1 })).toThrow(/labelSmoothing/);
    tf.dispose([x, probs, batch.x, batch.y]);
    model.dispose();
  });

  it('trains on blended (mixup) labels, and counts a blend right when it predicts its larger part', () => {
    const { model, batch, x, probs, p } = scoredBatch(9);
    const soft = [0.2, 0.8, 0.35, 0.65, 0, 1, 0.3, 0.7];
    const y = tf.tensor1d(soft);
    const result = createTrainer(model, { lr: 0 }).step(x, y);
    expect(result.loss).toBeCloseTo(soft.reduce((sum, t, i) => sum + crossEntropy(t, p[i]), 0) / soft.length, 5);
    expect(result.correct).toBe(soft.filter((t, i) => p[i] > 0.5 === t >= 0.5).length);
    tf.dispose([x, y, probs, batch.x, batch.y]);
    model.dispose();
  });

  it('trains auxiliary heads beside the gender unit; an image of unknown class adds nothing to them', () => {
    const { x, y } = toyBatch(8, 6);
    const shared = (grads: tf.Tensor[]) => grads.slice(0, 4).map((g) => Array.from(g.dataSync()));
    const plain = createTrainer(pooledNet()).gradients(x, y, 8);
    const twin = withAuxHeads(pooledNet(), [{ name: 'race', classes: 3 }]);
    const unknown = tf.fill([8, 1], -1, 'int32') as tf.Tensor2D;
    const none = createTrainer(twin).gradients(x, y, 8, unknown);
    expect(none.auxCount).toBe(0);
    expect(none.auxLossSum).toBe(0);
    expect(none.lossSum).toBeCloseTo(plain.lossSum, 6);
    shared(none.grads).forEach((g, i) => g.forEach((v, j) => expect(v).toBeCloseTo(shared(plain.grads)[i][j], 6)));
    none.grads.slice(4).forEach((g) => expect(Math.max(...g.dataSync().map(Math.abs))).toBe(0));
    // Six of the eight images have a class: the head's gradient grows with the heads' weight, the loss reported not.
    const classes = tf.tensor2d([0, 1, 2, -1, 0, 1, 2, -1], [8, 1], 'int32');
    const [once, twice] = [1, 2].map((auxWeight) => createTrainer(twin, { auxWeight }).gradients(x, y, 8, classes));
    expect(once.auxCount).toBe(6);
    expect(twice.lossSum).toBeCloseTo(once.lossSum, 6);
    const head = (g: Gradients) => Array.from(g.grads[4].dataSync());
    head(twice).forEach((v, j) => expect(v).toBeCloseTo(2 * head(once)[j], 5));
    tf.dispose([x, y, unknown, classes, ...[plain, none, once, twice].flatMap((g) => g.grads)]);
  });

  it('learns an auxiliary class through the shared layers, and leaks no tensor doing so', () => {
    const base = pooledNet();
    const twin = withAuxHeads(base, [{ name: 'bright', classes: 2 }]);
    const trainer = createTrainer(twin, { lr: 3e-2 });
    const { x, y } = toyBatch(16, 7);
    // The head's class is the image's brightness, as the gender label is: both are learnt from the same features.
    const classes = tf.tensor2d(Array.from(y.dataSync()), [16, 1], 'int32');
    const first = trainer.step(x, y, classes);
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 40; i++) last = trainer.step(x, y, classes);
    expect(tf.memory().numTensors).toBe(before);
    expect(last.auxLoss).toBeLessThan(first.auxLoss * 0.5);
    expect(last.correct).toBe(16);
    // The gender model itself, without the head, was trained.
    const p = base.predict(x) as tf.Tensor;
    expect(Array.from(p.dataSync()).map((v) => (v > 0.5 ? 1 : 0))).toEqual(Array.from(y.dataSync()));
    tf.dispose([x, y, classes, p]);
  });

  it('round-trips optimizer state for checkpoints', async () => {
    const model = buildModel('compact', { inputSize: SIZE, seed: 2 });
    const { x, y } = toyBatch(8, 6);
    const trainer = createTrainer(model);
    trainer.step(x, y);
    const saved = await trainer.getOptimizerWeights();
    expect(saved.length).toBe(1 + 2 * model.trainableWeights.length);
    const restored = createTrainer(model);
    await restored.setOptimizerWeights(saved);
    const again = await restored.getOptimizerWeights();
    expect(again.map((w) => w.name)).toEqual(saved.map((w) => w.name));
    for (let i = 0; i < saved.length; i++) {
      expect(Array.from(again[i].tensor.dataSync())).toEqual(Array.from(saved[i].tensor.dataSync()));
    }
    restored.step(x, y);
    tf.dispose([x, y, ...saved.map((w) => w.tensor), ...again.map((w) => w.tensor)]);
    model.dispose();
  });
});
