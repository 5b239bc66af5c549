import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LOGIT_EPSILON, type Calibration } from '../core/calibration';
import type { ModelMetadata } from '../core/metadata';
import { withPackedWeights } from './packed-model';

export interface GenderClassifier {
  readonly metadata: ModelMetadata;
  /**
   * Probability of "male" for each crop of a [n, size, size, 3] batch in 0–255, calibrated.
   * Synchronous and tensor-in, tensor-out, so callers can run it inside their own `tf.tidy`.
   */
  predict(crops: tf.Tensor4D): tf.Tensor1D;
  /** The same, read back to the CPU; releases everything it makes. */
  classify(crops: tf.Tensor4D): Promise<Float32Array>;
  dispose(): void;
}

/** log(p / (1 − p)), with p clipped as src/core/calibration.ts clips it. */
function logitOf(p: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const q = tf.clipByValue(p, LOGIT_EPSILON, 1 - LOGIT_EPSILON);
    return tf.log(tf.div(q, tf.sub(1, q)));
  });
}

/** Applies the calibration to probabilities through their logit: sigmoid(logit(p) / temperature + bias). */
export function applyCalibration(p: tf.Tensor, { temperature, bias }: Calibration): tf.Tensor {
  if (temperature === 1 && bias === 0) return p;
  return tf.tidy(() => tf.sigmoid(tf.add(tf.div(logitOf(p), temperature), bias)));
}

/** Wraps a loaded layers model; runs one warm-up prediction so kernel compilation is not paid on a live frame. */
export function createGenderClassifier(model: tfl.LayersModel, metadata: ModelMetadata): GenderClassifier {
  const size = metadata.inputSize;
  const calibration = { temperature: metadata.temperature, bias: metadata.bias ?? 0 };
  const predict = (crops: tf.Tensor4D): tf.Tensor1D =>
    tf.tidy(() => {
      if (crops.shape[0] === 0) return tf.zeros([0]) as tf.Tensor1D;
      const p = tf.reshape(model.predict(crops) as tf.Tensor, [-1]);
      return applyCalibration(p, calibration) as tf.Tensor1D;
    });
  tf.tidy(() => {
    predict(tf.zeros([1, size, size, 3]));
  });
  return fromPredict(metadata, predict, () => model.dispose());
}

/** A classifier around `predict`: `classify` reads its result back and releases it. */
function fromPredict(
  metadata: ModelMetadata,
  predict: (crops: tf.Tensor4D) => tf.Tensor1D,
  dispose: () => void,
): GenderClassifier {
  return {
    metadata,
    predict,
    async classify(crops) {
      const p = predict(crops);
      try {
        return (await p.data()) as Float32Array;
      } finally {
        p.dispose();
      }
    },
    dispose,
  };
}

/**
 * Test-time flip averaging: each crop and its mirror image go through the model in one batch, and the two
 * probabilities are made one as src/core/calibration.ts's `meanLogit` does. Twice the classifier work per face.
 */
export function withFlipAveraging(classifier: GenderClassifier): GenderClassifier {
  const predict = (crops: tf.Tensor4D): tf.Tensor1D =>
    tf.tidy(() => {
      const n = crops.shape[0];
      if (n === 0) return classifier.predict(crops);
      const both = classifier.predict(tf.concat([crops, tf.image.flipLeftRight(crops)]));
      return tf.sigmoid(tf.mean(tf.reshape(logitOf(both), [2, n]), 0)) as tf.Tensor1D;
    });
  return fromPredict(classifier.metadata, predict, () => classifier.dispose());
}

export async function loadGenderClassifier(
  source: tf.io.IOHandler,
  metadata: ModelMetadata,
): Promise<GenderClassifier> {
  return createGenderClassifier(await tfl.loadLayersModel(withPackedWeights(source)), metadata);
}
