import * as tf from '@tensorflow/tfjs-core';
import { faceCropBox, type CropSettings } from '../core/crop';
import { toNormalizedBox, type Box } from '../core/geometry';

/** The tensor itself when already float32: callers that cast a frame once pay no copy here. */
export function asFloat32<T extends tf.Tensor>(image: T): T {
  return image.dtype === 'float32' ? image : (tf.cast(image, 'float32') as T);
}

/**
 * Cuts every face of one image in a single batched resample: [faces, size, size, 3], float32 in 0–255.
 * Parts of a crop outside the image are black. Returns an empty batch when there are no faces.
 */
export function cropFaces(image: tf.Tensor3D, faces: readonly Box[], settings: CropSettings): tf.Tensor4D {
  const [height, width] = image.shape;
  return tf.tidy(() => {
    if (faces.length === 0) return tf.zeros([0, settings.size, settings.size, 3]) as tf.Tensor4D;
    const boxes = faces.map((f) => toNormalizedBox(faceCropBox(f, settings), width, height));
    return tf.image.cropAndResize(
      tf.expandDims(asFloat32(image), 0) as tf.Tensor4D,
      boxes,
      new Array<number>(faces.length).fill(0),
      [settings.size, settings.size],
      'bilinear',
      0,
    );
  });
}
