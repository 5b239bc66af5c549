import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/augment';
import { sampleBatchAugmentation } from '../../training/lib/fit/augment';
import { createDataParallelStep } from '../../training/lib/fit/data-parallel';
import { buildModel } from '../../training/lib/model/models';
import { createTrainer } from '../../training/lib/fit/trainer';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';

describe('data-parallel training step', () => {
  beforeAll(async () => {
    await initTrainingBackend();
  });

  it('learns with the batch split and augmented across a worker thread, and leaks no tensor', async () => {
    const model = buildModel('compact', { inputSize: 32, seed: 3 });
    const trainer = createTrainer(model, { lr: 3e-3 });
    const parallel = await createDataParallelStep(model, trainer, {
      arch: 'compact',
      inputSize: 32,
      classWeights: { female: 1, male: 1 },
    });
    // Bright images are "male", dark ones "female": separable at a glance.
    const y = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 2));
    const x = tf.tidy(() =>
      tf.add(tf.mul(tf.reshape(y, [16, 1, 1, 1]), 150), tf.randomUniform([16, 32, 32, 3], 0, 100)),
    ) as tf.Tensor4D;
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
});
