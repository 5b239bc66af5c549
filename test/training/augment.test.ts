import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BLUR_AUGMENT,
  DEFAULT_AUGMENT,
  ERASE_AUGMENT,
  FAR_AUGMENT,
  IDENTITY_APPEARANCE,
  IDENTITY_PARAMS,
  mulberry32,
  ROBUST_AUGMENT,
  sampleAugmentation,
  type AppearanceParams,
  type AugmentSettings,
} from '../../src/core/augment';
import {
  appearanceBatch,
  applyAugmentation,
  augmentBatch,
  blurBatch,
  lowResBatch,
  mixPairs,
  sampleBatchAugmentation,
  transformBatch,
} from '../../training/lib/fit/augment';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FACES = resolve(REPO_ROOT, process.env.FACESENSE_DATA ?? '../shared/data', 'celeba/Dataset/Train');
const SHEET = join(REPO_ROOT, 'test-results', 'augment-contact-sheet.png');

async function onBackend<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(name);
  try {
    return await fn();
  } finally {
    await tf.setBackend(previous);
  }
}

function randomBatch(shape: [number, number, number, number], seed: number): Float32Array {
  const rng = mulberry32(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng() * 255);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/**
 * The last 5 of a batch of 8 augmented by `preset` (its plan drawn from `planSeed`, which must give some image the
 * change `uses` picks), as a training thread augments its share, match the whole batch's augmentation of them.
 */
async function expectThreadsAlike(
  preset: AugmentSettings,
  uses: (p: AppearanceParams) => unknown,
  planSeed: number,
  imageSeed: number,
): Promise<void> {
  const images = tf.tensor4d(randomBatch([8, 16, 16, 3], imageSeed), [8, 16, 16, 3]);
  const plan = sampleBatchAugmentation(8, mulberry32(planSeed), preset);
  expect(plan.appearance!.some(uses)).toBe(true);
  const whole = applyAugmentation(images, plan);
  const tail = tf.slice(whole, 3, 5);
  const part = applyAugmentation(tf.slice(images, 3, 5), plan, 3);
  expect(maxAbsDiff(await part.data(), await tail.data())).toBe(0);
  tf.dispose([images, whole, tail, part]);
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

afterAll(() => tf.disposeVariables());

describe('transformBatch on wasm', () => {
  it('returns the input for identity params', async () => {
    const images = tf.tensor4d(randomBatch([3, 9, 7, 3], 1), [3, 9, 7, 3]);
    const out = transformBatch(images, [IDENTITY_PARAMS, IDENTITY_PARAMS, IDENTITY_PARAMS]);
    expect(maxAbsDiff(await out.data(), await images.data())).toBe(0);
    tf.dispose([images, out]);
  });

  it('flips exactly like tf.image.flipLeftRight', async () => {
    const images = tf.tensor4d(randomBatch([2, 6, 11, 3], 2), [2, 6, 11, 3]);
    const flip = { ...IDENTITY_PARAMS, flip: true };
    const out = transformBatch(images, [flip, flip]);
    const expected = tf.image.flipLeftRight(images);
    expect(maxAbsDiff(await out.data(), await expected.data())).toBe(0);
    tf.dispose([images, out, expected]);
  });

  it('rotates a square image by 90° onto its pixel grid: top-left takes the bottom-left pixel', async () => {
    const images = tf.tensor4d(randomBatch([1, 8, 8, 3], 3), [1, 8, 8, 3]);
    const out = transformBatch(images, [{ ...IDENTITY_PARAMS, theta: 90 }]);
    // out[y][x] = in[h − 1 − x][y]: transpose, then mirror the columns.
    const expected = tf.reverse(tf.transpose(images, [0, 2, 1, 3]), 2);
    expect(maxAbsDiff(await out.data(), await expected.data())).toBeLessThan(1e-3);
    tf.dispose([images, out, expected]);
  });

  it('smears edge pixels into uncovered areas (nearest fill) instead of leaving black', async () => {
    const images = tf.fill([1, 8, 8, 3], 200) as tf.Tensor4D;
    const out = transformBatch(images, [{ ...IDENTITY_PARAMS, tx: 0.5, theta: 30 }]);
    expect((await tf.min(out).data())[0]).toBeCloseTo(200, 3);
    tf.dispose([images, out]);
  });

  it('rejects a params list of the wrong length', () => {
    const images = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
    expect(() => transformBatch(images, [IDENTITY_PARAMS])).toThrow(/1 transforms for 2 images/);
    images.dispose();
  });

  it('leaks no tensors', () => {
    const images = tf.tensor4d(randomBatch([4, 16, 16, 3], 4), [4, 16, 16, 3]);
    const before = tf.memory().numTensors;
    augmentBatch(images, mulberry32(5)).dispose();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});

describe('applyAugmentation', () => {
  it('augments part of a batch as the whole batch would be, so the training threads can share one batch', () => {
    const images = tf.tensor4d(randomBatch([6, 16, 16, 3], 8), [6, 16, 16, 3]);
    const plan = sampleBatchAugmentation(6, mulberry32(3), ROBUST_AUGMENT);
    const whole = applyAugmentation(images, plan);
    const part = tf.slice(images, 4, 2);
    const partOut = applyAugmentation(part, plan, 4);
    const wholeTail = tf.slice(whole, 4, 2);
    expect(tf.max(tf.abs(tf.sub(partOut, wholeTail))).dataSync()[0]).toBe(0);
    expect(tf.max(tf.abs(tf.sub(partOut, part))).dataSync()[0]).toBeGreaterThan(1);
    tf.dispose([images, whole, part, partOut, wholeTail]);
  });

  it('draws what augmentBatch draws', () => {
    const images = tf.tensor4d(randomBatch([3, 16, 16, 3], 9), [3, 16, 16, 3]);
    const a = augmentBatch(images, mulberry32(6), ROBUST_AUGMENT);
    const b = applyAugmentation(images, sampleBatchAugmentation(3, mulberry32(6), ROBUST_AUGMENT));
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    tf.dispose([images, a, b]);
  });
});

describe('mixPairs', () => {
  // Five one-pixel images of values 0, 10, 20, 30, 40; pairs (0, 1) and (2, 3) kept at 0.75 and 0.6; image 4 has
  // no partner.
  const plan = { geometry: [], mix: [0.75, 0.75, 0.6, 0.6, 1] };
  const batch = () => [tf.tensor4d([0, 10, 20, 30, 40], [5, 1, 1, 1]), tf.tensor1d([0, 1, 1, 1, 0])] as const;

  it('blends each pair of images, and their labels, by its weights', () => {
    const [images, labels] = batch();
    const { x, y } = mixPairs(images, labels, plan);
    expect(Array.from(x.dataSync())).toEqual([2.5, 7.5, 24, 26, 40].map((v) => expect.closeTo(v, 5)));
    expect(Array.from(y.dataSync())).toEqual([0.25, 0.75, 1, 1, 0].map((v) => expect.closeTo(v, 5)));
    tf.dispose([images, labels, x, y]);
  });

  it('blends part of a batch as the whole batch would be, and leaves an image whose partner is elsewhere', () => {
    const [images, labels] = batch();
    const whole = mixPairs(images, labels, plan);
    const [partImages, partLabels] = [tf.slice(images, 2, 3), tf.slice(labels, 2, 3)];
    const part = mixPairs(partImages, partLabels, plan, 2);
    expect(Array.from(part.x.dataSync())).toEqual(Array.from(whole.x.dataSync()).slice(2));
    const [odd, oddLabels] = [tf.slice(images, 1, 2), tf.slice(labels, 1, 2)];
    const split = mixPairs(odd, oddLabels, plan, 1);
    expect(Array.from(split.x.dataSync())).toEqual([10, 20]);
    tf.dispose([
      images,
      labels,
      partImages,
      partLabels,
      odd,
      oddLabels,
      ...Object.values(whole),
      ...Object.values(part),
      ...Object.values(split),
    ]);
  });

  it('copies the batch when the plan has no mixup, and draws a weight of at least 0.5 per pair when it has', () => {
    const [images, labels] = batch();
    const before = tf.memory().numTensors;
    const { x, y } = mixPairs(images, labels, { geometry: [] });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(Array.from(x.dataSync())).toEqual([0, 10, 20, 30, 40]);
    tf.dispose([images, labels, x, y]);
    const drawn = sampleBatchAugmentation(7, mulberry32(5), ROBUST_AUGMENT, 0.2);
    const plain = sampleBatchAugmentation(7, mulberry32(5), ROBUST_AUGMENT);
    expect(drawn.geometry).toEqual(plain.geometry);
    expect(drawn.mix![6]).toBe(1);
    for (let i = 0; i < 6; i += 2) {
      expect(drawn.mix![i]).toBe(drawn.mix![i + 1]);
      expect(drawn.mix![i]).toBeGreaterThanOrEqual(0.5);
    }
    expect(plain.mix).toBeUndefined();
  });
});

describe('appearanceBatch on wasm', () => {
  const shape: [number, number, number, number] = [2, 8, 8, 3];
  const pixels = () => tf.tensor4d(randomBatch(shape, 11), shape);

  it('returns the input for identity params', async () => {
    const images = pixels();
    const out = appearanceBatch(images, [IDENTITY_APPEARANCE, IDENTITY_APPEARANCE]);
    expect(maxAbsDiff(await out.data(), await images.data())).toBeLessThan(1e-3);
    tf.dispose([images, out]);
  });

  it('greys an image with saturation 0 and scales and clips brightness', async () => {
    const images = pixels();
    const out = appearanceBatch(images, [
      { ...IDENTITY_APPEARANCE, saturation: 0 },
      { ...IDENTITY_APPEARANCE, brightness: 3 },
    ]);
    const [grey, bright] = tf.split<tf.Tensor4D>(out, 2);
    const [r, g, b] = tf.split(grey, 3, 3);
    expect(maxAbsDiff(await r.data(), await g.data())).toBeLessThan(1e-3);
    expect(maxAbsDiff(await r.data(), await b.data())).toBeLessThan(1e-3);
    const expected = tf.clipByValue(tf.mul(tf.slice(images, 1, 1), 3), 0, 255);
    expect(maxAbsDiff(await bright.data(), await expected.data())).toBeLessThan(1e-3);
    tf.dispose([images, out, grey, bright, r, g, b, expected]);
  });

  it('blacks out the cut sides and leaves the rest', async () => {
    const images = pixels();
    const out = appearanceBatch(images, [
      { ...IDENTITY_APPEARANCE, cut: { left: 0.25, right: 0, top: 0, bottom: 0.5 } },
      IDENTITY_APPEARANCE,
    ]);
    const first = tf.slice(out, [0, 0, 0, 0], [1, 8, 8, 3]);
    expect(await tf.sum(tf.slice(first, [0, 0, 0, 0], [1, 8, 2, 3])).data()).toEqual(new Float32Array([0]));
    expect(await tf.sum(tf.slice(first, [0, 4, 0, 0], [1, 4, 8, 3])).data()).toEqual(new Float32Array([0]));
    const kept = tf.slice(first, [0, 0, 2, 0], [1, 4, 6, 3]);
    const original = tf.slice(images, [0, 0, 2, 0], [1, 4, 6, 3]);
    expect(maxAbsDiff(await kept.data(), await original.data())).toBeLessThan(1e-3);
    tf.dispose([images, out, first, kept, original]);
  });

  it('fills the erased rectangle with its grey and leaves the rest, and images without one', async () => {
    const images = pixels();
    const out = appearanceBatch(images, [
      { ...IDENTITY_APPEARANCE, erase: { x: 0.25, y: 0.5, width: 0.5, height: 0.25, grey: 77 } },
      IDENTITY_APPEARANCE,
    ]);
    const expected = images.arraySync();
    for (let y = 4; y < 6; y++) for (let x = 2; x < 6; x++) expected[0][y][x] = [77, 77, 77];
    expect(maxAbsDiff((await out.array()).flat(3), expected.flat(3))).toBeLessThan(1e-3);
    tf.dispose([images, out]);
  });

  it('leaks no tensors, with the robust and erase presets end to end', () => {
    const images = pixels();
    const before = tf.memory().numTensors;
    augmentBatch(images, mulberry32(5), ROBUST_AUGMENT).dispose();
    augmentBatch(images, mulberry32(5), ERASE_AUGMENT).dispose();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});

/** Mean absolute difference between horizontal neighbours: the fine detail left in an image. */
const detail = (image: tf.Tensor4D) =>
  tf.tidy(() => {
    const [, h, w, c] = image.shape;
    return tf
      .mean(tf.abs(tf.sub(tf.slice(image, [0, 0, 1, 0], [1, h, w - 1, c]), tf.slice(image, 0, [1, h, w - 1, c]))))
      .dataSync()[0];
  });

describe('lowResBatch on wasm', () => {
  const far = (width: number, noise = 0, seed = 1) => ({ ...IDENTITY_APPEARANCE, lowRes: { width, noise, seed } });

  it('leaves images without lowRes params as they are', async () => {
    const images = tf.tensor4d(randomBatch([2, 64, 64, 3], 21), [2, 64, 64, 3]);
    const out = lowResBatch(images, [IDENTITY_APPEARANCE, IDENTITY_APPEARANCE]);
    expect(maxAbsDiff(await out.data(), await images.data())).toBe(0);
    tf.dispose([images, out]);
  });

  it('takes fine detail away, the more the smaller the source, and keeps the mean brightness', () => {
    const images = tf.tensor4d(randomBatch([3, 64, 64, 3], 22), [3, 64, 64, 3]);
    const out = lowResBatch(images, [IDENTITY_APPEARANCE, far(48), far(20)]);
    const [same, mid, small] = tf.split<tf.Tensor4D>(out, 3);
    expect(detail(mid)).toBeLessThan(detail(same) * 0.6);
    expect(detail(small)).toBeLessThan(detail(mid) * 0.6);
    const mean = (t: tf.Tensor) => tf.tidy(() => tf.mean(t).dataSync()[0]);
    expect(Math.abs(mean(small) - mean(same))).toBeLessThan(2);
    tf.dispose([images, out, same, mid, small]);
  });

  it('adds the same noise to an image wherever it sits in the batch, as the training threads need', async () => {
    const images = tf.tensor4d(randomBatch([2, 32, 32, 3], 23).fill(128), [2, 32, 32, 3]);
    const params = [far(64, 10, 7), far(64, 10, 7)];
    const out = lowResBatch(images, params);
    const [a, b] = tf.split<tf.Tensor4D>(out, 2);
    expect(maxAbsDiff(await a.data(), await b.data())).toBe(0);
    const spread = tf.tidy(() => tf.sqrt(tf.moments(tf.sub(a, 128)).variance).dataSync()[0]);
    expect(spread).toBeGreaterThan(8);
    expect(spread).toBeLessThan(12);
    tf.dispose([images, out, a, b]);
  });

  it('is part of the far preset: a thread augmenting part of a batch gets what the whole batch would', () =>
    expectThreadsAlike(FAR_AUGMENT, (p) => p.lowRes, 4, 24));

  it('leaks no tensors', () => {
    const images = tf.tensor4d(randomBatch([3, 16, 16, 3], 25), [3, 16, 16, 3]);
    const before = tf.memory().numTensors;
    lowResBatch(images, [far(30, 5), IDENTITY_APPEARANCE, far(50)]).dispose();
    augmentBatch(images, mulberry32(5), FAR_AUGMENT).dispose();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});

describe('blurBatch on wasm', () => {
  const blurred = (sigma: number) => ({ ...IDENTITY_APPEARANCE, blur: sigma });

  it('leaves images without blur as they are', async () => {
    const images = tf.tensor4d(randomBatch([2, 64, 64, 3], 31), [2, 64, 64, 3]);
    const out = blurBatch(images, [IDENTITY_APPEARANCE, IDENTITY_APPEARANCE]);
    expect(maxAbsDiff(await out.data(), await images.data())).toBe(0);
    tf.dispose([images, out]);
  });

  it('takes fine detail away, the more the larger σ, and keeps the mean brightness and a flat crop', async () => {
    const images = tf.tensor4d(randomBatch([3, 64, 64, 3], 32), [3, 64, 64, 3]);
    const out = blurBatch(images, [IDENTITY_APPEARANCE, blurred(0.7), blurred(2.5)]);
    expect(out.shape).toEqual(images.shape);
    const [same, mild, strong] = tf.split<tf.Tensor4D>(out, 3);
    expect(detail(mild)).toBeLessThan(detail(same) * 0.6);
    expect(detail(strong)).toBeLessThan(detail(mild) * 0.5);
    const mean = (t: tf.Tensor) => tf.tidy(() => tf.mean(t).dataSync()[0]);
    const original = tf.slice(images, 2, 1);
    expect(Math.abs(mean(strong) - mean(original))).toBeLessThan(0.5);
    const flat = tf.fill([1, 64, 64, 3], 200) as tf.Tensor4D;
    const flatOut = blurBatch(flat, [blurred(2.5)]);
    expect(maxAbsDiff(await flatOut.data(), await flat.data())).toBeLessThan(1e-3);
    tf.dispose([images, out, same, mild, strong, original, flat, flatOut]);
  });

  it('blurs a 32-px crop as much as a 64-px one, relative to its width', () => {
    const big = tf.tidy(() =>
      tf.image.resizeNearestNeighbor(tf.tensor4d(randomBatch([1, 32, 32, 3], 33), [1, 32, 32, 3]), [64, 64]),
    );
    const small = tf.tensor4d(randomBatch([1, 32, 32, 3], 33), [1, 32, 32, 3]);
    const ratio = (image: tf.Tensor4D) => {
      const out = blurBatch(image, [blurred(2)]);
      const r = detail(out) / detail(image);
      out.dispose();
      return r;
    };
    expect(ratio(small)).toBeLessThan(0.6);
    expect(Math.abs(ratio(small) - ratio(big))).toBeLessThan(0.15);
    tf.dispose([big, small]);
  });

  it('is part of the blur preset: a thread augmenting part of a batch gets what the whole batch would', () =>
    expectThreadsAlike(BLUR_AUGMENT, (p) => p.blur, 3, 34));

  it('blurs alike on cpu, the training fallback', async () => {
    const blur = (backend: string) =>
      onBackend(backend, async () => {
        const images = tf.tensor4d(randomBatch([2, 24, 20, 3], 36), [2, 24, 20, 3]);
        const out = blurBatch(images, [blurred(1.5), blurred(2.5)]);
        const values = await out.data();
        tf.dispose([images, out]);
        return values;
      });
    expect(maxAbsDiff(await blur('wasm'), await blur('cpu'))).toBeLessThan(1e-3);
  });

  it('leaks no tensors', () => {
    const images = tf.tensor4d(randomBatch([3, 16, 16, 3], 35), [3, 16, 16, 3]);
    const before = tf.memory().numTensors;
    blurBatch(images, [blurred(1), IDENTITY_APPEARANCE, blurred(2.5)]).dispose();
    augmentBatch(images, mulberry32(5), BLUR_AUGMENT).dispose();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});

describe('backends', () => {
  const shape: [number, number, number, number] = [6, 24, 20, 3];
  const run = (backend: string) =>
    onBackend(backend, async () => {
      const images = tf.tensor4d(randomBatch(shape, 6), shape);
      const out = augmentBatch(images, mulberry32(9), { ...DEFAULT_AUGMENT, shearRange: 15 });
      const values = await out.data();
      tf.dispose([images, out]);
      return values;
    });

  it('wasm gives the same batch as cpu', async () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(maxAbsDiff(await run('wasm'), await run('cpu'))).toBeLessThan(1e-3);
  });

  it("still needs the per-image path on cpu: its batched kernel only fills the batch's first image", async () => {
    // When this fails, tfjs has fixed the kernel and transformBatch's cpu branch can go.
    const blank = await onBackend('cpu', async () => {
      const second = tf.tidy(() => {
        const identity = tf.tensor2d([1, 0, 0, 0, 1, 0, 0, 0], [1, 8]);
        const out = tf.image.transform(tf.ones([2, 4, 4, 1]) as tf.Tensor4D, identity, 'nearest', 'nearest');
        return tf.sum(tf.slice(out, 1, 1));
      });
      const [value] = await second.data();
      second.dispose();
      return value;
    });
    expect(blank).toBe(0);
  });
});

describe('contact sheet', () => {
  const FACES_PER_CLASS = 4;
  const COLUMNS = 8;
  const SIDE = 64;
  const SCALE = 2;
  const GAP = 4;

  async function faceCrop(path: string): Promise<Buffer> {
    return sharp(path).resize(SIDE, SIDE, { fit: 'cover' }).removeAlpha().raw().toBuffer();
  }

  it(`writes ${relative(REPO_ROOT, SHEET)} with originals and ${COLUMNS - 1} augmentations per face`, async (ctx) => {
    if (!existsSync(FACES)) ctx.skip(`no face photos at ${FACES}; set FACESENSE_DATA to draw the contact sheet`);
    const paths = ['Male', 'Female'].flatMap((label) => {
      const dir = join(FACES, label);
      const files = readdirSync(dir)
        .filter((f) => f.endsWith('.jpg'))
        .sort();
      // Spread the picks over the folder rather than taking neighbours.
      return Array.from({ length: FACES_PER_CLASS }, (_, i) =>
        join(dir, files[Math.floor((i * files.length) / FACES_PER_CLASS)]),
      );
    });
    const crops = await Promise.all(paths.map(faceCrop));

    const pixels = new Float32Array(crops.length * COLUMNS * SIDE * SIDE * 3);
    crops.forEach((crop, face) => {
      for (let col = 0; col < COLUMNS; col++) pixels.set(crop, (face * COLUMNS + col) * crop.length);
    });
    const rng = mulberry32(2024);
    const params = Array.from({ length: crops.length * COLUMNS }, (_, i) =>
      i % COLUMNS === 0 ? IDENTITY_PARAMS : sampleAugmentation(rng, DEFAULT_AUGMENT),
    );
    const images = tf.tensor4d(pixels, [crops.length * COLUMNS, SIDE, SIDE, 3]);
    const out = transformBatch(images, params);
    const cells = Uint8Array.from(await out.data(), (v) => Math.round(Math.min(255, Math.max(0, v))));
    tf.dispose([images, out]);

    const cellBytes = SIDE * SIDE * 3;
    for (let face = 0; face < crops.length; face++) {
      const original = cells.subarray(face * COLUMNS * cellBytes, (face * COLUMNS + 1) * cellBytes);
      expect(maxAbsDiff(original, crops[face])).toBe(0);
      for (let col = 1; col < COLUMNS; col++) {
        const start = (face * COLUMNS + col) * cellBytes;
        expect(maxAbsDiff(cells.subarray(start, start + cellBytes), original)).toBeGreaterThan(20);
      }
    }

    const step = SIDE * SCALE + GAP;
    const tiles = await Promise.all(
      Array.from({ length: crops.length * COLUMNS }, async (_, i) => ({
        input: await sharp(cells.subarray(i * cellBytes, (i + 1) * cellBytes), {
          raw: { width: SIDE, height: SIDE, channels: 3 },
        })
          .resize(SIDE * SCALE, SIDE * SCALE, { kernel: 'nearest' })
          .png()
          .toBuffer(),
        left: GAP + (i % COLUMNS) * step,
        top: GAP + Math.floor(i / COLUMNS) * step,
      })),
    );
    mkdirSync(dirname(SHEET), { recursive: true });
    await sharp({
      create: {
        width: GAP + COLUMNS * step,
        height: GAP + crops.length * step,
        channels: 3,
        background: { r: 255, g: 255, b: 255 },
      },
    })
      .composite(tiles)
      .png()
      .toFile(SHEET);

    const meta = await sharp(SHEET).metadata();
    expect([meta.width, meta.height]).toEqual([GAP + COLUMNS * step, GAP + crops.length * step]);
  });
});
