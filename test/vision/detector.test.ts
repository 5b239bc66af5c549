import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DETECTOR_OPTIONS, loadBlazeFace, type FaceDetector } from '../../src/vision/detector';
import { decodeImage, imageTensor } from '../../training/lib/data/images';
import { BLAZEFACE_MODEL, fileModelHandler } from '../../training/lib/node-io';
import { DATA_DIR } from '../support/data';

const DIVERSE = join(DATA_DIR, 'diverse');
const [retry] = DEFAULT_DETECTOR_OPTIONS.stillRetries;

let detector: FaceDetector;

beforeAll(async () => {
  await tf.setBackend('wasm');
  detector = await loadBlazeFace(fileModelHandler(BLAZEFACE_MODEL));
});

afterAll(() => detector?.dispose());

/** The tight face photos (FairFace training images, 96×96) in which the plain pass finds no face. */
async function tightPhotosWithoutPlainFace(max: number): Promise<tf.Tensor3D[]> {
  const found: tf.Tensor3D[] = [];
  const files = readdirSync(join(DIVERSE, 'Female'))
    .filter((f) => f.startsWith('fairface-train_'))
    .sort();
  for (const file of files) {
    const image = imageTensor(await decodeImage(join(DIVERSE, 'Female', file)));
    if ((await detector.detect(image)).length === 0) found.push(image);
    else image.dispose();
    if (found.length === max) break;
  }
  return found;
}

describe('detector: the border retry for stills', () => {
  it('finds the face that fills a tight photo, which a video frame pass misses', async () => {
    const photos = await tightPhotosWithoutPlainFace(10);
    expect(photos).toHaveLength(10);
    let found = 0;
    for (const photo of photos) {
      const faces = await detector.detect(photo, { still: true });
      if (faces.length > 0) found++;
      for (const f of faces) expect(f.score).toBeGreaterThanOrEqual(retry.scoreThreshold);
    }
    tf.dispose(photos);
    expect(found).toBeGreaterThanOrEqual(9);
  });

  it('maps the box back to the photo exactly: as found in the photo placed in a bordered canvas by hand', async () => {
    const [photo] = await tightPhotosWithoutPlainFace(1);
    const [height, width] = photo.shape;
    const side = Math.max(width, height) * retry.scale;
    const left = (side - width) / 2;
    const top = (side - height) / 2;
    // The canvas the retry looks at, made by hand: the photo in the middle, its mean colour around it.
    const canvas = tf.tidy(() => {
      const mean = tf.mean(tf.cast(photo, 'float32'), [0, 1]);
      const frame = tf.pad(tf.sub(tf.cast(photo, 'float32'), mean), [
        [top, top],
        [left, left],
        [0, 0],
      ]);
      return tf.add(frame, mean) as tf.Tensor3D;
    });
    const lenient = await loadBlazeFace(fileModelHandler(BLAZEFACE_MODEL), {
      scoreThreshold: retry.scoreThreshold,
      stillRetries: [],
    });
    const [inCanvas] = await lenient.detect(canvas);
    const [retried] = await detector.detect(photo, { still: true });
    lenient.dispose();
    tf.dispose([photo, canvas]);
    expect(inCanvas).toBeDefined();
    // cropAndResize samples a box's corners at pixel centres of the image it reads, so the two resamples of the
    // same region differ by under a pixel of the photo; the boxes agree to within 3 % of the face's width.
    const tolerance = 0.03 * inCanvas.box.width;
    expect(Math.abs(retried.box.x - (inCanvas.box.x - left))).toBeLessThan(tolerance);
    expect(Math.abs(retried.box.y - (inCanvas.box.y - top))).toBeLessThan(tolerance);
    expect(Math.abs(retried.box.width - inCanvas.box.width)).toBeLessThan(tolerance);
    expect(Math.abs(retried.box.height - inCanvas.box.height)).toBeLessThan(tolerance);
  });

  it('leaves video frames alone: no retry unless the caller says the image is a still', async () => {
    const [photo] = await tightPhotosWithoutPlainFace(1);
    expect(await detector.detect(photo)).toEqual([]);
    photo.dispose();
  });

  it('leaks no tensor in either pass', async () => {
    const [photo] = await tightPhotosWithoutPlainFace(1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await detector.detect(photo, { still: true });
    expect(tf.memory().numTensors).toBe(before);
    photo.dispose();
  });
});
