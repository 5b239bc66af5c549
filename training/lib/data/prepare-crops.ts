import * as tf from '@tensorflow/tfjs-core';
import type { CropSettings } from '../../../src/core/crop';
import { cropFaces } from '../../../src/vision/crop';
import type { DetectorOptions, FaceDetector } from '../../../src/vision/detector';
import { CropCache, entryKey, type CacheRecord } from './crop-cache';
import type { DatasetEntry } from './dataset';
import { decodeInOrder, imageTensor, type RgbImage } from './images';

export interface PrepareResult {
  /** Entries with a crop, each with its cache slot. */
  usable: { entry: DatasetEntry; slot: number }[];
  noFace: { entry: DatasetEntry; reason: string }[];
  unreadable: { entry: DatasetEntry; reason: string }[];
  /** How many entries needed detection in this run (the rest came from the cache). */
  processed: number;
}

export function detectorKey(options: DetectorOptions): string {
  const retries = options.stillRetries.map((r) => `-border${r.scale}${r.fill}t${r.scoreThreshold}`).join('');
  return `blazeface-short-t${options.scoreThreshold}${retries}-full-t${options.farScoreThreshold}`;
}

/**
 * Makes sure every entry has a cached crop or a recorded reason why not: decode, detect, keep the most confident
 * face and cut it with the app's crop code. Work already in the cache is skipped, so an interrupted run resumes.
 */
export async function prepareCrops(
  entries: readonly DatasetEntry[],
  cache: CropCache,
  detector: FaceDetector,
  settings: CropSettings,
  onProgress?: (done: number, total: number) => void,
): Promise<PrepareResult> {
  const todo = entries.filter((e) => !cache.get(entryKey(e)));
  let i = 0;
  for await (const decoded of decodeInOrder(todo.map((e) => e.path))) {
    const key = entryKey(todo[i]);
    if (decoded instanceof Error) {
      cache.addFailure(key, 'unreadable', decoded.message.split('\n')[0]);
    } else {
      await cropOne(decoded, key, cache, detector, settings);
    }
    onProgress?.(++i, todo.length);
  }
  return collect(entries, cache, todo.length);
}

async function cropOne(
  image: RgbImage,
  key: string,
  cache: CropCache,
  detector: FaceDetector,
  settings: CropSettings,
): Promise<void> {
  const tensor = imageTensor(image);
  try {
    const [face] = await detector.detect(tensor, { still: true });
    if (!face) {
      cache.addFailure(key, 'no-face', 'no face found');
      return;
    }
    const crop = tf.tidy(() => tf.cast(tf.round(cropFaces(tensor, [face.box], settings)), 'int32'));
    const pixels = Uint8Array.from(await crop.data());
    crop.dispose();
    cache.addCrop(key, pixels, { box: face.box, score: face.score, landmarks: face.landmarks });
  } finally {
    tensor.dispose();
  }
}

function collect(entries: readonly DatasetEntry[], cache: CropCache, processed: number): PrepareResult {
  const result: PrepareResult = { usable: [], noFace: [], unreadable: [], processed };
  for (const entry of entries) {
    const rec = cache.get(entryKey(entry)) as CacheRecord;
    if (rec.slot !== undefined) result.usable.push({ entry, slot: rec.slot });
    else if (rec.kind === 'no-face') result.noFace.push({ entry, reason: rec.error ?? 'no face found' });
    else result.unreadable.push({ entry, reason: rec.error ?? 'unreadable' });
  }
  return result;
}
