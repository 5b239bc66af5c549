import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrated, meanLogit } from '../../src/core/calibration';
import { applyCalibration, withFlipAveraging, type GenderClassifier } from '../../src/vision/classifier';
import { loadClassifierDir } from '../../training/cli/common';

const MODEL = join(__dirname, '..', '..', 'public', 'models', 'gender');

let classifier: GenderClassifier;

beforeAll(async () => {
  await tf.setBackend('wasm');
  classifier = await loadClassifierDir(MODEL);
});

afterAll(() => classifier?.dispose());

describe('applyCalibration', () => {
  it('matches the scalar formula the CLIs and calibration use', async () => {
    const p = [1e-9, 0.01, 0.3, 0.5, 0.77, 0.999, 1];
    const calibration = { temperature: 1.7, bias: -0.4 };
    const scaled = applyCalibration(tf.tensor1d(p), calibration);
    const values = Array.from(await scaled.data());
    scaled.dispose();
    // Within float32: the tensor version clamps to 1 − 1e-7 as float32 rounds it (1 − 1.19e-7).
    p.forEach((x, i) => expect(values[i]).toBeCloseTo(calibrated(x, calibration), 4));
  });
});

describe('withFlipAveraging', () => {
  it("averages each crop's score with its mirror image's in the logit, in one batch", async () => {
    const crops = tf.randomUniform([3, 64, 64, 3], 0, 255, 'float32', 3) as tf.Tensor4D;
    const flipped = tf.image.flipLeftRight(crops);
    const [plain, mirrored, averaged] = await Promise.all([
      classifier.classify(crops),
      classifier.classify(flipped),
      withFlipAveraging(classifier).classify(crops),
    ]);
    averaged.forEach((p, i) => expect(p).toBeCloseTo(meanLogit([plain[i], mirrored[i]]), 5));
    tf.dispose([crops, flipped]);
  });

  it('gives an empty batch for no faces and leaks no tensors', async () => {
    const flip = withFlipAveraging(classifier);
    const before = tf.memory().numTensors;
    const crops = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
    await flip.classify(crops);
    crops.dispose();
    const none = tf.zeros([0, 64, 64, 3]) as tf.Tensor4D;
    expect(Array.from(await flip.classify(none))).toEqual([]);
    none.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
