import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import type { Box } from '../../../src/core/geometry';
import type { DetectedFace, FaceDetector } from '../../../src/vision/detector';

/** Larger images are scaled down before detection: the detector sees 128×128 and crops are 64×64 anyway. */
const MAX_SIDE = 2048;

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** Pixels of the file per decoded pixel: above 1 when it was scaled down to MAX_SIDE. */
  scale: number;
}

/**
 * Decodes any image sharp reads (a path, or the file's bytes) into 8-bit sRGB: EXIF orientation applied, alpha
 * flattened onto black, grayscale, CMYK and 16-bit input converted. Throws with sharp's reason on unreadable input.
 */
export async function decodeImage(input: string | Buffer): Promise<RgbImage> {
  const image = sharp(input, { failOn: 'error' });
  const { width = 0, height = 0 } = await image.metadata();
  const { data, info } = await image
    .rotate()
    .resize({ width: MAX_SIDE, height: MAX_SIDE, fit: 'inside', withoutEnlargement: true })
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    scale: Math.max(width, height) / Math.max(info.width, info.height),
  };
}

export function imageTensor(image: RgbImage): tf.Tensor3D {
  return tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
}

/** The grey of the frame placeInFrame puts a photo in. */
const GREY = 128;

/**
 * A camera's view of a face `width` px wide: the photo scaled (Lanczos, as a sensor averages light) so that `face`
 * (a box in it) is `width` px wide, centred in a grey frame. Returns the frame and the face's box in it.
 */
export async function placeInFrame(
  source: RgbImage,
  face: Box,
  width: number,
  frame: { width: number; height: number },
): Promise<{ frame: tf.Tensor3D; box: Box }> {
  const f = width / face.width;
  const w = Math.max(1, Math.round(source.width * f));
  const h = Math.max(1, Math.round(source.height * f));
  if (w > frame.width || h > frame.height) throw new Error(`a face scaled to ${width} px leaves the frame`);
  const scaled = await sharp(Buffer.from(source.data), {
    raw: { width: source.width, height: source.height, channels: 3 },
  })
    .resize(w, h, { kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const left = Math.round((frame.width - w) / 2);
  const top = Math.round((frame.height - h) / 2);
  const pixels = new Uint8Array(frame.width * frame.height * 3).fill(GREY);
  for (let y = 0; y < h; y++)
    pixels.set(scaled.subarray(y * w * 3, (y + 1) * w * 3), ((top + y) * frame.width + left) * 3);
  const sx = w / source.width;
  const sy = h / source.height;
  return {
    frame: tf.tensor3d(pixels, [frame.height, frame.width, 3], 'int32'),
    box: { x: left + face.x * sx, y: top + face.y * sy, width: face.width * sx, height: face.height * sy },
  };
}

/**
 * Decodes files in order, keeping `ahead` decodes running on libuv's thread pool while the caller works on the
 * current image (detection holds the main thread). Yields the image or the decoder's error for each path.
 */
export async function* decodeInOrder(paths: readonly string[], ahead = 4): AsyncGenerator<RgbImage | Error> {
  const pending: Promise<RgbImage | Error>[] = [];
  const start = (i: number) => {
    if (i < paths.length) pending[i] = decodeImage(paths[i]).catch((err: Error) => err);
  };
  for (let i = 0; i < ahead; i++) start(i);
  for (let i = 0; i < paths.length; i++) {
    start(i + ahead);
    let result = await pending[i];
    delete pending[i];
    if (result instanceof Error) {
      // libvips has one error buffer for all threads, and a decode that succeeds meanwhile can clear a failed
      // one's message ("Unknown error"). Decoding the file again with nothing else in flight gets the reason.
      await Promise.all(pending);
      result = await decodeImage(paths[i]).catch((err: Error) => err);
    }
    yield result;
  }
}

/**
 * The face the detector finds first in each of `paths`, read as a still photo (its border retries included), in
 * order, with the image's index in `paths`; files that do not decode and photos without a face are passed over.
 * The caller disposes each image.
 */
export async function* stillFaces(
  paths: readonly string[],
  detector: FaceDetector,
): AsyncGenerator<{ index: number; image: tf.Tensor3D; face: DetectedFace }> {
  let index = 0;
  for await (const decoded of decodeInOrder(paths)) {
    const at = index++;
    if (decoded instanceof Error) continue;
    const image = imageTensor(decoded);
    const [face] = await detector.detect(image, { still: true });
    if (face) yield { index: at, image, face };
    else image.dispose();
  }
}
