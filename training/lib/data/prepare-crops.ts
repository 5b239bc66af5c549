import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import type { CropSettings } from '../../../src/core/crop';
import { cropFaces } from '../../../src/vision/crop';
import type { DetectorOptions, FaceDetector } from '../../../src/vision/detector';
import { contentKey, CropCache, legacyKey, type CacheRecord, type Pruned } from './crop-cache';
import type { DatasetEntry } from './dataset';
import { decodeImage, imageTensor, type RgbImage } from './images';

export interface PrepareResult {
  /** Entries with a crop, each with its cache slot. */
  usable: { entry: DatasetEntry; slot: number }[];
  noFace: { entry: DatasetEntry; reason: string }[];
  unreadable: { entry: DatasetEntry; reason: string }[];
  /** How many entries needed detection in this run (the rest came from the cache). */
  processed: number;
}

export interface PrepareOutcome {
  /** One per group of entries, in order. */
  results: PrepareResult[];
  /** Files read to find their content key: new, changed or copied since the cache last saw them. */
  read: number;
  /** Of those, the files whose content the cache had cropped already (a copy, or a file under another name). */
  reused: number;
  /** Files whose record, made under the old name|size|mtime key, was carried over to their content key. */
  adopted: number;
  /** Records no current file uses any more, dropped. */
  pruned: Pruned;
}

export interface PrepareProgress {
  done: number;
  /** Files to read: those the cache has not seen at their size and mtime, or whose crop it lacks. */
  total: number;
  /** Of the `done`, those whose content the cache already had. */
  cached: number;
}

export function detectorKey(options: DetectorOptions): string {
  const retries = options.stillRetries.map((r) => `-border${r.scale}${r.fill}t${r.scoreThreshold}`).join('');
  const refine = options.refine
    ? `-refine${options.refine.scale}t${options.refine.scoreThreshold}lt${options.refine.maxSide}`
    : '';
  return `blazeface-short-t${options.scoreThreshold}${retries}-full-t${options.farScoreThreshold}${refine}`;
}

/** Files read, hashed and, where needed, decoded ahead of the one being handed to a crop thread (at least two a thread). */
const AHEAD = 8;

interface Item {
  group: number;
  index: number;
  entry: DatasetEntry;
  /** The content key the cache knew the file by, when it lacks its crop. */
  known?: string;
}

type Loaded = { item: Item; error: Error } | { item: Item; key: string; bytes: Buffer; image?: RgbImage | Error };

/**
 * Makes sure every file of every group (a data folder's entries) has a cached crop or a recorded reason why not,
 * keyed by the file's content: a copy of the data, or a photo under another name, finds its crop. A file the cache
 * has seen at the same size and mtime is not read; any other is read once, hashed and, if its content is new,
 * decoded from those bytes; then the most confident face is cut with the app's crop code. Content shared by several
 * files is cropped once. Records no current file uses are then pruned (see FileKeys.settle). Work already in the
 * cache is skipped, so an interrupted run resumes.
 */
export async function prepareCrops(
  groups: readonly (readonly DatasetEntry[])[],
  cache: CropCache,
  cropper: Cropper,
  onProgress?: (progress: PrepareProgress) => void,
): Promise<PrepareOutcome> {
  const keys: (string | undefined)[][] = groups.map((entries) => new Array<string | undefined>(entries.length));
  const todo: Item[] = [];
  groups.forEach((entries, group) =>
    entries.forEach((entry, index) => {
      const known = cache.files.keyOf(entry.path, entry.size, entry.mtimeMs);
      if (known !== undefined && cache.has(known)) keys[group][index] = known;
      else todo.push({ group, index, entry, known });
    }),
  );

  // Content being decoded ahead: a second file with it is not decoded, and shares the first one's record.
  const claimed = new Set<string>();
  const load = async (item: Item): Promise<Loaded> => {
    let bytes: Buffer;
    try {
      // Read here, synchronously: fs.promises.readFile costs four thread-pool round trips per file and keyed a
      // copy of 200,000 small files no faster (a cold read waits on the disk either way), and a read is short
      // beside a detection.
      bytes = readFileSync(item.entry.path);
    } catch (err) {
      return { item, error: err as Error };
    }
    const key = item.known ?? contentKey(bytes);
    if (cache.has(key) || claimed.has(key) || cache.has(legacyKey(item.entry))) return { item, key, bytes };
    claimed.add(key);
    return { item, key, bytes, image: await decodeImage(bytes).catch((err: Error) => err) };
  };

  const readErrors = new Map<DatasetEntry, string>();
  const processed = groups.map(() => 0);
  const pending = new Map<number, Promise<Loaded>>();
  const start = (i: number) => {
    if (i < todo.length) pending.set(i, load(todo[i]));
  };
  const ahead = Math.max(AHEAD, 2 * cropper.parallel);
  for (let i = 0; i < ahead; i++) start(i);
  // Crops being made, by content key: up to cropper.parallel at once.
  const cropping = new Map<string, Promise<void>>();
  let cached = 0;
  let adopted = 0;
  for (let i = 0; i < todo.length; i++) {
    start(i + ahead);
    const loaded = await (pending.get(i) as Promise<Loaded>);
    pending.delete(i);
    const { entry, group, index, known } = loaded.item;
    if ('error' in loaded) {
      readErrors.set(entry, loaded.error.message.split('\n')[0]);
    } else {
      const { key } = loaded;
      const carried = cache.adopt(legacyKey(entry), key);
      // A file with the content of one still being cropped shares its record once that crop ends (the loop's end
      // waits for it). Waiting for it here would leave the other threads idle whenever copies come in a row.
      if (cache.has(key) || cropping.has(key)) {
        cached++;
        if (carried) adopted++;
      } else {
        let image = loaded.image ?? (await decodeImage(loaded.bytes).catch((err: Error) => err));
        if (image instanceof Error) {
          // libvips has one error buffer for all threads, and a decode that succeeds meanwhile can clear a failed
          // one's message ("Unknown error"). Decoding the file again with nothing else in flight gets the reason.
          await Promise.all(pending.values());
          image = await decodeImage(loaded.bytes).catch((err: Error) => err);
        }
        if (image instanceof Error) {
          cache.addFailure(key, 'unreadable', image.message.split('\n')[0]);
          claimed.delete(key);
        } else {
          const job = cropper
            .crop(image)
            .then((outcome) => {
              if ('noFace' in outcome) cache.addFailure(key, 'no-face', 'no face found');
              else cache.addCrop(key, outcome.pixels, outcome.meta);
            })
            .finally(() => {
              cropping.delete(key);
              claimed.delete(key);
            });
          // Awaited below or after the loop; until then a failure must not count as unhandled.
          job.catch(() => undefined);
          cropping.set(key, job);
          if (cropping.size >= cropper.parallel) await Promise.race(cropping.values());
        }
        processed[group]++;
      }
      if (known === undefined) cache.files.remember(entry.path, entry.size, entry.mtimeMs, key);
      keys[group][index] = key;
    }
    onProgress?.({ done: i + 1, total: todo.length, cached });
  }
  await Promise.all(cropping.values());

  const pruned = cache.prune(cache.files.settle(groups.flat()));
  const results = groups.map((entries, group) => {
    const result: PrepareResult = { usable: [], noFace: [], unreadable: [], processed: processed[group] };
    entries.forEach((entry, index) => {
      const key = keys[group][index];
      const rec = key === undefined ? undefined : (cache.get(key) as CacheRecord);
      if (rec === undefined) result.unreadable.push({ entry, reason: readErrors.get(entry) ?? 'unreadable' });
      else if (rec.slot !== undefined) result.usable.push({ entry, slot: rec.slot });
      else if (rec.kind === 'no-face') result.noFace.push({ entry, reason: rec.error ?? 'no face found' });
      else result.unreadable.push({ entry, reason: rec.error ?? 'unreadable' });
    });
    return result;
  });
  return { results, read: todo.length, reused: cached - adopted, adopted, pruned };
}

/** What cropping a decoded image gives: the face's crop and where it was, or that no face was found. */
export type CropOutcome =
  { pixels: Uint8Array; meta: Pick<CacheRecord, 'box' | 'score' | 'landmarks'> } | { noFace: true };

/** Detects and crops images, `parallel` of them at once (a pool of worker threads, or the main thread alone). */
export interface Cropper {
  readonly parallel: number;
  crop(image: RgbImage): Promise<CropOutcome>;
}

/** The most confident face of a still, cut with the app's crop code. */
export async function detectAndCrop(
  image: RgbImage,
  detector: FaceDetector,
  settings: CropSettings,
): Promise<CropOutcome> {
  const tensor = imageTensor(image);
  try {
    const [face] = await detector.detect(tensor, { still: true });
    if (!face) return { noFace: true };
    const crop = tf.tidy(() => tf.cast(tf.round(cropFaces(tensor, [face.box], settings)), 'int32'));
    const pixels = Uint8Array.from(await crop.data());
    crop.dispose();
    return { pixels, meta: { box: face.box, score: face.score, landmarks: face.landmarks } };
  } finally {
    tensor.dispose();
  }
}

export function mainThreadCropper(detector: FaceDetector, settings: CropSettings): Cropper {
  return { parallel: 1, crop: (image) => detectAndCrop(image, detector, settings) };
}
