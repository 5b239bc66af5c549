import * as tf from '@tensorflow/tfjs-core';
import {
  affineMatrix,
  DEFAULT_AUGMENT,
  eraseMask,
  frameMask,
  gaussianKernel,
  sampleAppearance,
  sampleAugmentation,
  sampleBeta,
  toTransformVector,
  type AppearanceParams,
  type AugmentParams,
  type AugmentSettings,
  type LowResParams,
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
  /**
   * Mixup: images 2k and 2k + 1 are blended, each keeping weight `mix[i]` (at least 0.5, so its own label stays
   * the larger part) of itself, and their labels alike. Pairs are neighbours so that a part of the batch that
   * starts at an even image holds both halves of each of its pairs.
   */
  mix?: number[];
}

/**
 * Draws the augmentation of `n` images: every image's geometry first, then every image's appearance, then with
 * `mixup` (Beta's α; 0 for none) each pair's blend.
 */
export function sampleBatchAugmentation(
  n: number,
  rng: () => number,
  settings: AugmentSettings = DEFAULT_AUGMENT,
  mixup = 0,
): BatchAugmentation {
  const geometry = Array.from({ length: n }, () => sampleAugmentation(rng, settings));
  const { appearance } = settings;
  const plan: BatchAugmentation = {
    geometry,
    appearance: appearance && geometry.map(() => sampleAppearance(rng, appearance)),
  };
  if (mixup > 0) {
    plan.mix = geometry.map(() => 1);
    for (let i = 0; i + 1 < n; i += 2) {
      const weight = sampleBeta(rng, mixup);
      plan.mix[i] = plan.mix[i + 1] = Math.max(weight, 1 - weight);
    }
  }
  return plan;
}

/**
 * Blends images `begin`, `begin + 1`, … of the batch `plan` was drawn for with their mixup partners, and their
 * labels (0 female, 1 male) the same way. An image whose partner lies outside this part stays as it is.
 */
export function mixPairs(
  images: tf.Tensor4D,
  labels: tf.Tensor1D,
  plan: BatchAugmentation,
  begin = 0,
): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const n = images.shape[0];
  if (!plan.mix) return { x: tf.clone(images), y: tf.clone(labels) };
  const partner = Array.from({ length: n }, (_, i) => {
    const j = ((begin + i) ^ 1) - begin;
    return j >= 0 && j < n ? j : i;
  });
  const weights = plan.mix.slice(begin, begin + n);
  return tf.tidy(() => {
    const order = tf.tensor1d(partner, 'int32');
    const w = tf.tensor1d(weights);
    const blend = <T extends tf.Tensor>(t: T, shape: number[]) =>
      tf.add(tf.mul(t, tf.reshape(w, shape)), tf.mul(tf.gather(t, order), tf.reshape(tf.sub(1, w), shape))) as T;
    return { x: blend(images, [n, 1, 1, 1]), y: blend(labels, [n]) };
  });
}

/** Augments `images`, which are images `begin`, `begin + 1`, … of the batch `plan` was drawn for. */
export function applyAugmentation(images: tf.Tensor4D, plan: BatchAugmentation, begin = 0): tf.Tensor4D {
  const end = begin + images.shape[0];
  const geometry = plan.geometry.slice(begin, end);
  const looks = plan.appearance?.slice(begin, end);
  if (!looks) return transformBatch(images, geometry);
  return tf.tidy(() => lowResBatch(blurBatch(appearanceBatch(transformBatch(images, geometry), looks), looks), looks));
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
 * Saturation, contrast and brightness per image on 0–255 values, clipped to that range, then the erased rectangle
 * (one grey), then the frame cut (black, as the app's crop is outside the photo).
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
    const erased = params.some((p) => p.erase) ? eraseBatch(lit as tf.Tensor4D, params) : lit;
    const masks = new Float32Array(n * height * width);
    params.forEach((p, i) => masks.set(frameMask(p.cut, width, height), i * height * width));
    return tf.mul(erased, tf.tensor4d(masks, [n, height, width, 1]));
  });
}

/** Each image's erased rectangle filled with its grey; images without one pass unchanged. */
function eraseBatch(images: tf.Tensor4D, params: readonly AppearanceParams[]): tf.Tensor4D {
  const [n, height, width] = images.shape;
  const keep = new Float32Array(n * height * width).fill(1);
  params.forEach((p, i) => p.erase && keep.set(eraseMask(p.erase, width, height), i * height * width));
  const grey = tf.tensor4d(
    params.map((p) => p.erase?.grey ?? 0),
    [n, 1, 1, 1],
  );
  const mask = tf.tensor4d(keep, [n, height, width, 1]);
  return tf.add(tf.mul(images, mask), tf.mul(grey, tf.sub(1, mask)));
}

/**
 * Each image through `change` with the parameter `pick` finds in its params; images without one pass unchanged (and
 * a batch without any is copied, not split).
 */
function eachImage<P>(
  images: tf.Tensor4D,
  params: readonly AppearanceParams[],
  pick: (p: AppearanceParams) => P | undefined,
  change: (image: tf.Tensor4D, param: P) => tf.Tensor4D,
): tf.Tensor4D {
  const n = images.shape[0];
  if (params.length !== n) throw new Error(`got ${params.length} appearance changes for ${n} images`);
  if (!params.some((p) => pick(p) !== undefined)) return tf.clone(images);
  return tf.tidy(() =>
    tf.concat(
      tf.split<tf.Tensor4D>(images, n).map((image, i) => {
        const param = pick(params[i]);
        return param === undefined ? image : change(image, param);
      }),
    ),
  );
}

/**
 * Blurs the images whose params ask for it by their Gaussian (σ scaled to the crop's width), separably, with the
 * edges mirrored so that a crop's border keeps its brightness; the others pass unchanged. After the appearance
 * changes (a hand or a photo's edge is blurred with the face) and before a far face's sensor noise.
 */
export function blurBatch(images: tf.Tensor4D, params: readonly AppearanceParams[]): tf.Tensor4D {
  return eachImage(images, params, (p) => p.blur, blur);
}

/** Makes the images whose params ask for it low-resolution (see `LowResSettings`); the others pass unchanged. */
export function lowResBatch(images: tf.Tensor4D, params: readonly AppearanceParams[]): tf.Tensor4D {
  return eachImage(images, params, (p) => p.lowRes, lowRes);
}

/** One image blurred by a Gaussian of `sigma` px of a 64-px-wide crop. */
function blur(image: tf.Tensor4D, sigma: number): tf.Tensor4D {
  const [, , width, channels] = image.shape;
  const taps = gaussianKernel((sigma * width) / 64);
  const radius = (taps.length - 1) / 2;
  return tf.tidy(() => {
    const line = tf.tensor1d(taps);
    const kernel = (shape: [number, number]) =>
      tf.tile(tf.reshape(line, [...shape, 1, 1]), [1, 1, channels, 1]) as tf.Tensor4D;
    const pad: [number, number] = [radius, radius];
    const padded = tf.mirrorPad(image, [[0, 0], pad, pad, [0, 0]], 'reflect');
    const rows = tf.depthwiseConv2d(padded, kernel([1, taps.length]), 1, 'valid');
    return tf.depthwiseConv2d(rows, kernel([taps.length, 1]), 1, 'valid');
  });
}

/**
 * One image shrunk to the source size and enlarged back with bilinear sampling, as the app's crop enlarges a
 * small face. Shrinking by more than half first averages 2×2 blocks, since a camera's pixels average their light
 * rather than sample points, and plain bilinear shrinking would alias.
 */
function lowRes(image: tf.Tensor4D, far: LowResParams): tf.Tensor4D {
  const [, height, width] = image.shape;
  const smallWidth = Math.max(4, Math.round((far.width * width) / 64));
  const smallHeight = Math.max(4, Math.round((smallWidth * height) / width));
  return tf.tidy((): tf.Tensor4D => {
    const source = smallWidth * 2 <= width ? tf.avgPool(image, 2, 2, 'valid') : image;
    const small = tf.image.resizeBilinear(source, [smallHeight, smallWidth], false, true);
    const large = tf.image.resizeBilinear(small, [height, width], false, true);
    if (far.noise <= 0) return large;
    return tf.clipByValue(
      tf.add(large, tf.randomNormal(large.shape, 0, far.noise, 'float32', far.seed)),
      0,
      255,
    ) as tf.Tensor4D;
  });
}
