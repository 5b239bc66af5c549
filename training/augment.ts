import * as tf from '@tensorflow/tfjs-core';
import {
  affineMatrix,
  DEFAULT_AUGMENT,
  sampleAugmentation,
  toTransformVector,
  type AugmentParams,
  type AugmentSettings,
} from '../src/core/augment';

/**
 * Resamples each image of a `[n, h, w, c]` batch under its own params in one `tf.image.transform` call: bilinear
 * interpolation (Keras's default order 1) and nearest fill, which smears the edge pixels into uncovered corners.
 */
export function transformBatch(images: tf.Tensor4D, params: readonly AugmentParams[]): tf.Tensor4D {
  const [n, height, width] = images.shape;
  if (params.length !== n) throw new Error(`got ${params.length} transforms for ${n} images`);
  return tf.tidy(() => {
    const transforms = tf.tensor2d(
      params.flatMap((p) => toTransformVector(affineMatrix(p, width, height))),
      [n, 8],
    );
    // tfjs-backend-cpu 4.22's Transform kernel returns after the first image and leaves the rest at the fill
    // value, so there each image goes through on its own; the wasm kernel handles whole batches.
    if (tf.getBackend() === 'cpu' && n > 1) {
      return tf.concat(
        tf
          .split<tf.Tensor4D>(images, n)
          .map((image, i) => tf.image.transform(image, tf.slice(transforms, i, 1), 'bilinear', 'nearest')),
      );
    }
    return tf.image.transform(images, transforms, 'bilinear', 'nearest');
  });
}

/**
 * The tutorial's random ImageDataGenerator transform for a training batch of float images (values 0–255 or
 * already rescaled; the transform does not care). Validation and test images are only rescaled, never passed here.
 */
export function augmentBatch(
  images: tf.Tensor4D,
  rng: () => number,
  settings: AugmentSettings = DEFAULT_AUGMENT,
): tf.Tensor4D {
  const params = Array.from({ length: images.shape[0] }, () => sampleAugmentation(rng, settings));
  return transformBatch(images, params);
}
