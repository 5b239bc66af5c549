import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUGMENT_PRESETS, mulberry32 } from '../../src/core/augment';
import { applyAugmentation, mixPairs, sampleBatchAugmentation } from '../../training/lib/fit/augment';
import { createDataParallelStep, shareBatch } from '../../training/lib/fit/data-parallel';
import {
  applyBatchNormStats,
  buildModel,
  collectBatchNormStats,
  FastBatchNorm,
  withAuxHeads,
} from '../../training/lib/model/models';
import { kernelRounder } from '../../training/lib/fit/quantized';
import { createTrainer, type Trainer } from '../../training/lib/fit/trainer';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';

/** Bright images are "male", dark ones "female": separable at a glance. */
function toyBatch(n: number, size: number) {
  const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2));
  const x = tf.tidy(() =>
    tf.add(tf.mul(tf.reshape(y, [n, 1, 1, 1]), 150), tf.randomUniform([n, size, size, 3], 0, 100, 'float32', 7)),
  ) as tf.Tensor4D;
  return { x, y };
}

/** Convs and BatchNorm as in compact, without its dropout, whose masks no seed fixes. */
function smallNet(): tfl.LayersModel {
  const he = (seed: number) => tfl.initializers.heNormal({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.rescaling({ scale: 1 / 127.5, offset: -1, inputShape: [16, 16, 3] }),
      tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, useBias: false, kernelInitializer: he(1) }),
      new FastBatchNorm({ name: 'bn_a' }),
      tfl.layers.reLU(),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: he(2) }),
      new FastBatchNorm({ name: 'bn_b' }),
      tfl.layers.reLU(),
      tfl.layers.globalAveragePooling2d({ name: 'gap' }),
      tfl.layers.dense({
        units: 1,
        activation: 'sigmoid',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }),
      }),
    ],
  });
}

describe('shareBatch', () => {
  it('gives each thread whole micro-batches, as evenly as they go, this thread first', () => {
    expect(shareBatch(64, 32, 2)).toEqual([
      [0, 32],
      [32, 32],
    ]);
    expect(shareBatch(64, 16, 3)).toEqual([
      [0, 32],
      [32, 16],
      [48, 16],
    ]);
    expect(shareBatch(70, 32, 2)).toEqual([
      [0, 64],
      [64, 6],
    ]);
    expect(shareBatch(64, 32, 4)).toEqual([
      [0, 32],
      [32, 32],
      [64, 0],
      [64, 0],
    ]);
    expect(shareBatch(10, 32, 1)).toEqual([[0, 10]]);
  });
});

describe('data-parallel training step', () => {
  beforeAll(async () => {
    await initTrainingBackend();
  });

  it('learns with the batch split and augmented across worker threads, and leaks no tensor', async () => {
    const model = buildModel('compact', { inputSize: 32, seed: 3 });
    const trainer = createTrainer(model, { lr: 3e-3, microBatch: 8 });
    const parallel = await createDataParallelStep(model, trainer, { threads: 2, microBatch: 8 });
    const { x, y } = toyBatch(16, 32);
    try {
      const rng = mulberry32(1);
      const step = () => parallel.step(x, y, sampleBatchAugmentation(16, rng));
      const first = await step();
      const before = tf.memory().numTensors;
      let last = first;
      for (let i = 0; i < 15; i++) last = await step();
      expect(tf.memory().numTensors).toBe(before);
      expect(last.loss).toBeLessThan(first.loss);
      expect(last.correct).toBeGreaterThan(12);
    } finally {
      await parallel.close();
      tf.dispose([x, y]);
      model.dispose();
    }
  });

  it.each([
    ['', false],
    [', with auxiliary heads', true],
  ])('makes the same step with 1, 2 and 4 threads%s: gradients, weights and BatchNorm averages', async (_, heads) => {
    // Worker threads compute most of the gradients with 2 and 4 threads: they must weigh the loss as the trainer does.
    const loss = { classWeights: { female: 1, male: 2.5 }, labelSmoothing: 0.2, auxWeight: 0.5 };
    const { x, y } = toyBatch(16, 16);
    // Two heads; a quarter of the images lack the first one's class, and all lack the second's but two.
    const aux = heads
      ? tf.tensor2d(
          Array.from({ length: 16 }, (_, i) => [i % 4 === 3 ? -1 : i % 3, i < 2 ? i : -1]),
          [16, 2],
          'int32',
        )
      : undefined;
    const augmentation = sampleBatchAugmentation(16, mulberry32(5), AUGMENT_PRESETS.robust);
    const run = async (threads: number) => {
      const base = smallNet();
      const model = heads
        ? withAuxHeads(base, [
            { name: 'a', classes: 3 },
            { name: 'b', classes: 2 },
          ])
        : base;
      const real = createTrainer(model, { lr: 1e-3, microBatch: 4, ...loss });
      let grads: Float32Array[] = [];
      // The real trainer, with the summed gradients copied on their way to Adam.
      const trainer: Trainer = {
        ...real,
        applyGradients(g) {
          grads = g.map((t) => t.dataSync() as Float32Array);
          real.applyGradients(g);
        },
      };
      const parallel = await createDataParallelStep(model, trainer, { threads, microBatch: 4 });
      const result = await parallel.step(x, y, augmentation, aux);
      await parallel.close();
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      real.optimizer.dispose();
      model.dispose();
      return { result, grads, weights };
    };
    try {
      const one = await run(1);
      for (const threads of [2, 4]) {
        const many = await run(threads);
        expect(many.result.correct).toBe(one.result.correct);
        expect(many.result.loss).toBeCloseTo(one.result.loss, 5);
        expect(many.result.auxLoss).toBeCloseTo(one.result.auxLoss, 5);
        if (heads) expect(one.result.auxLoss).toBeGreaterThan(0);
        many.grads.forEach((g, i) => {
          const scale = Math.max(...one.grads[i].map(Math.abs));
          g.forEach((v, j) => expect(Math.abs(v - one.grads[i][j])).toBeLessThan(1e-4 * scale + 1e-7));
        });
        // Weights include BatchNorm's moving averages, which every micro-batch moved, in batch order.
        many.weights.forEach((w, i) => w.forEach((v, j) => expect(Math.abs(v - one.weights[i][j])).toBeLessThan(1e-5)));
      }
    } finally {
      tf.dispose([x, y, ...(aux ? [aux] : [])]);
    }
  });

  it('with sam, takes the gradient at the weights moved ρ along the batch gradient, as a hand-made step does', async () => {
    const rho = 0.05;
    const { x, y } = toyBatch(16, 16);
    const augmentation = sampleBatchAugmentation(16, mulberry32(5), AUGMENT_PRESETS.robust);
    const run = async (threads: number, sam: number) => {
      const model = smallNet();
      const trainer = createTrainer(model, { lr: 1e-3, microBatch: 4 });
      const parallel = await createDataParallelStep(model, trainer, { threads, microBatch: 4, sam });
      const result = await parallel.step(x, y, augmentation);
      const weights = model.getWeights().map((w) => (w.dataSync() as Float32Array).slice());
      const before = tf.memory().numTensors;
      await parallel.step(x, y, augmentation);
      const leaked = tf.memory().numTensors - before;
      await parallel.close();
      trainer.optimizer.dispose();
      model.dispose();
      return { result, leaked, weights };
    };
    // By hand, on one thread: the gradient at w + ρ·g/‖g‖, applied at w; BatchNorm's averages from the pass at w.
    const byHand = () => {
      const model = smallNet();
      const trainer = createTrainer(model, { lr: 1e-3, microBatch: 4 });
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const start = variables.map((v) => tf.clone(v));
      const augmented = applyAugmentation(x, augmentation);
      const mixed = mixPairs(augmented, y, augmentation);
      const first = collectBatchNormStats(() => trainer.gradients(mixed.x, mixed.y, 16));
      const norm = Math.sqrt(first.result.grads.reduce((sum, g) => sum + tf.sum(tf.square(g)).dataSync()[0], 0));
      variables.forEach((v, i) => v.assign(tf.add(v, tf.mul(first.result.grads[i], rho / norm))));
      const second = collectBatchNormStats(() => trainer.gradients(mixed.x, mixed.y, 16));
      variables.forEach((v, i) => v.assign(start[i]));
      trainer.applyGradients(second.result.grads);
      applyBatchNormStats(model, first.stats);
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      model.dispose();
      return weights;
    };
    try {
      const expected = tf.tidy(byHand);
      const plain = await run(1, 0);
      for (const threads of [1, 2]) {
        const sam = await run(threads, rho);
        expect(sam.leaked).toBe(0);
        // Loss and accuracy are the batch's at the weights the step started from.
        expect(sam.result.correct).toBe(plain.result.correct);
        expect(sam.result.loss).toBeCloseTo(plain.result.loss, 5);
        sam.weights.forEach((w, i) => w.forEach((v, j) => expect(Math.abs(v - expected[i][j])).toBeLessThan(1e-5)));
      }
      // Not the plain step: some weight moved differently.
      const moved = plain.weights.flatMap((w, i) => Array.from(w, (v, j) => Math.abs(v - expected[i][j])));
      expect(Math.max(...moved)).toBeGreaterThan(1e-6);
    } finally {
      tf.dispose([x, y]);
    }
  });

  it('with gradientAt, takes the gradient at the kernels rounded to uint4 and applies it to the unrounded ones', async () => {
    const { x, y } = toyBatch(16, 16);
    const augmentation = sampleBatchAugmentation(16, mulberry32(5), AUGMENT_PRESETS.robust);
    const rounderOf = (model: tfl.LayersModel) => kernelRounder(model.trainableWeights);
    const run = async (threads: number, rounded: boolean) => {
      const model = smallNet();
      const trainer = createTrainer(model, { lr: 1e-2, microBatch: 4 });
      const parallel = await createDataParallelStep(model, trainer, {
        threads,
        microBatch: 4,
        ...(rounded && { gradientAt: rounderOf(model) }),
      });
      await parallel.step(x, y, augmentation);
      const before = tf.memory().numTensors;
      await parallel.step(x, y, augmentation);
      const leaked = tf.memory().numTensors - before;
      const weights = model.getWeights().map((w) => (w.dataSync() as Float32Array).slice());
      const kernels = model.trainableWeights.map((w) => (w.read().dataSync() as Float32Array).slice());
      await parallel.close();
      trainer.optimizer.dispose();
      return { leaked, weights, kernels, round: rounderOf(model), model };
    };
    // By hand, on one thread, twice: the gradient and BatchNorm's statistics at the rounded kernels, applied at w.
    const byHand = () => {
      const model = smallNet();
      const trainer = createTrainer(model, { lr: 1e-2, microBatch: 4 });
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const round = rounderOf(model);
      const augmented = applyAugmentation(x, augmentation);
      const mixed = mixPairs(augmented, y, augmentation);
      for (let k = 0; k < 2; k++) {
        const start = variables.map((v) => tf.clone(v));
        const at = round(variables.map((v) => v.dataSync() as Float32Array));
        variables.forEach((v, i) => v.assign(tf.tensor(at[i], v.shape)));
        const taken = collectBatchNormStats(() => trainer.gradients(mixed.x, mixed.y, 16));
        variables.forEach((v, i) => v.assign(start[i]));
        trainer.applyGradients(taken.result.grads);
        applyBatchNormStats(model, taken.stats);
      }
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      model.dispose();
      return weights;
    };
    try {
      const expected = tf.tidy(byHand);
      const plain = await run(1, false);
      plain.model.dispose();
      for (const threads of [1, 2]) {
        const rounded = await run(threads, true);
        expect(rounded.leaked).toBe(0);
        rounded.weights.forEach((w, i) => w.forEach((v, j) => expect(Math.abs(v - expected[i][j])).toBeLessThan(1e-5)));
        // The model keeps its unrounded kernels: small updates add up rather than vanish in the rounding.
        const offGrid = rounded
          .round(rounded.kernels)
          .flatMap((r, i) => Array.from(r, (v, j) => v !== rounded.kernels[i][j]));
        expect(offGrid.filter(Boolean).length).toBeGreaterThan(0);
        rounded.model.dispose();
      }
      const moved = plain.weights.flatMap((w, i) => Array.from(w, (v, j) => Math.abs(v - expected[i][j])));
      expect(Math.max(...moved)).toBeGreaterThan(1e-6);
    } finally {
      tf.dispose([x, y]);
    }
  });
});
