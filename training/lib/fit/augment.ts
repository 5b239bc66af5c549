import * as tf from '@tensorflow/tfjs-core';
import {
  affineMatrix,
  DEFAULT_AUGMENT,
  frameMask,
  sampleAppearance,
  sampleAugmentation,
  toTransformVector,
  type AppearanceParams,
  type AugmentParams,
  type AugmentSettings,
} from '../../../src/core/augment';

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

/** One batch's random augmentation, drawn up front so that each part of the batch can be augmented on its own. */
export interface BatchAugmentation {
  geometry: AugmentParams[];
  appearance?: AppearanceParams[];
}

/** Draws the augmentation of `n` images: every image's geometry first, then every image's appearance. */
export function sampleBatchAugmentation(
  n: number,
  rng: () => number,
  settings: AugmentSettings = DEFAULT_AUGMENT,
): BatchAugmentation {
  const geometry = Array.from({ length: n }, () => sampleAugmentation(rng, settings));
  const { appearance } = settings;
  return { geometry, appearance: appearance && geometry.map(() => sampleAppearance(rng, appearance)) };
}

/** Augments `images`, which are images `begin`, `begin + 1`, … of the batch `plan` was drawn for. */
export function applyAugmentation(images: tf.Tensor4D, plan: BatchAugmentation, begin = 0): tf.Tensor4D {
  const end = begin + images.shape[0];
  const geometry = plan.geometry.slice(begin, end);
  const looks = plan.appearance?.slice(begin, end);
  if (!looks) return transformBatch(images, geometry);
  return tf.tidy(() => appearanceBatch(transformBatch(images, geometry), looks));
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
  return applyAugmentation(images, sampleBatchAugmentation(images.shape[0], rng, settings));
}

/**
 * Saturation, contrast and brightness per image on 0–255 values, clipped to that range, then the frame cut
 * (black, as the app's crop is outside the photo).
 */
export function appearanceBatch(images: tf.Tensor4D, params: readonly AppearanceParams[]): tf.Tensor4D {
  const [n, height, width] = images.shape;
  if (params.length !== n) throw new Error(`got ${params.length} appearance changes for ${n} images`);
  const perImage = (f: (p: AppearanceParams) => number) => tf.tensor4d(params.map(f), [n, 1, 1, 1]);
  return tf.tidy(() => {
    const grey = tf.mean(images, 3, true);
    const saturated = tf.add(
      grey,
      tf.mul(
        tf.sub(images, grey),
        perImage((p) => p.saturation),
      ),
    );
    const mean = tf.mean(saturated, [1, 2, 3], true);
    const contrasted = tf.add(
      mean,
      tf.mul(
        tf.sub(saturated, mean),
        perImage((p) => p.contrast),
      ),
    );
    const lit = tf.clipByValue(
      tf.mul(
        contrasted,
        perImage((p) => p.brightness),
      ),
      0,
      255,
    );
    const masks = new Float32Array(n * height * width);
    params.forEach((p, i) => masks.set(frameMask(p.cut, width, height), i * height * width));
    return tf.mul(lit, tf.tensor4d(masks, [n, height, width, 1]));
  });
}
