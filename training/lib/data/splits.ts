import * as tf from '@tensorflow/tfjs-core';
import type { CropCache } from './crop-cache';
import type { Dataset, DatasetEntry, Split } from './dataset';
import type { PrepareResult } from './prepare-crops';

/** One split's crops held in memory: `n` RGB crops of `size`×`size` back to back, labels 1 = male. */
export interface SplitData {
  x: Uint8Array;
  y: Uint8Array;
  n: number;
  size: number;
  names: string[];
  /** What training aims each crop at, where not its label (distillation: a blend with a teacher's probability). */
  target?: Float32Array;
}

export function loadSplit(result: PrepareResult, cache: CropCache, split: Split | null, size: number): SplitData {
  return loadUsable(
    result.usable.filter((u) => u.entry.split === split),
    cache,
    size,
  );
}

function loadUsable(usable: PrepareResult['usable'], cache: CropCache, size: number): SplitData {
  return {
    x: cache.readSlots(usable.map((u) => u.slot)),
    y: Uint8Array.from(usable, (u) => u.entry.label),
    n: usable.length,
    size,
    names: usable.map((u) => u.entry.name),
  };
}

/** 32-bit FNV-1a: a stable, seed-free hash of a file name. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Whether a file of a folder without its own Validation split is held out to validate on: a tenth of the files,
 * chosen by a hash of the name alone, so that a file stays on its side whatever the seed and whatever files are
 * added or removed beside it.
 */
export function isHeldOut(name: string): boolean {
  return nameHash(name) % 10 === 0;
}

/**
 * Whether a file is in `split` as training divides `dataset`: a Kaggle folder by its split folders, a plain
 * {Male,Female} folder into the tenth it holds out to validate on and the rest to train on (it has no Test).
 */
export function inSplit(dataset: Dataset, split: Split): (file: { name: string; split?: Split | null }) => boolean {
  if (dataset.layout === 'kaggle' || split === 'Test') return (f) => f.split === split;
  return (f) => isHeldOut(f.name) === (split === 'Validation');
}

/**
 * A split cut in two by isHeldOut: what is trained on, and the held-out tenth. Each part is read from the cache on
 * its own: cutting a loaded split would hold its crops twice.
 */
function holdOut(
  result: PrepareResult,
  cache: CropCache,
  split: Split | null,
  size: number,
): { kept: SplitData; out: SplitData } {
  const usable = result.usable.filter((u) => u.entry.split === split);
  return {
    kept: loadUsable(
      usable.filter((u) => !isHeldOut(u.entry.name)),
      cache,
      size,
    ),
    out: loadUsable(
      usable.filter((u) => isHeldOut(u.entry.name)),
      cache,
      size,
    ),
  };
}

/**
 * The images a folder's Validation and Test can be made of (its Validation and Test splits, and the held-out tenth
 * of the rest): all that an export, which measures but does not train, needs cropped.
 */
export function measuredEntries(dataset: Dataset): DatasetEntry[] {
  return dataset.entries.filter((e) => e.split === 'Validation' || e.split === 'Test' || isHeldOut(e.name));
}

/** Train and Validation crops. When Validation has none (no such folder, or no face in it), Train's held-out tenth. */
export function trainAndValidation(
  result: PrepareResult,
  cache: CropCache,
  size: number,
): { train: SplitData; validation: SplitData; heldOut: boolean } {
  const validation = loadSplit(result, cache, 'Validation', size);
  if (validation.n > 0) return { train: loadSplit(result, cache, 'Train', size), validation, heldOut: false };
  const { kept, out } = holdOut(result, cache, 'Train', size);
  return { train: kept, validation: out, heldOut: true };
}

/** One data folder's crops, split for training: a plain {Male,Female} folder holds out a tenth and has no Test. */
export interface SourceData {
  name: string;
  dataset: Dataset;
  train: SplitData;
  validation: SplitData;
  test: SplitData;
  /** Validation is a held-out part of the training images. */
  heldOut: boolean;
}

export function sourceData(
  name: string,
  dataset: Dataset,
  result: PrepareResult,
  cache: CropCache,
  size: number,
): SourceData {
  if (dataset.layout === 'flat') {
    const { kept, out } = holdOut(result, cache, null, size);
    return { name, dataset, train: kept, validation: out, test: loadSplit(result, cache, 'Test', size), heldOut: true };
  }
  return { name, dataset, ...trainAndValidation(result, cache, size), test: loadSplit(result, cache, 'Test', size) };
}

/** Several splits one after the other, as one; a single split is returned as it is, not copied. */
export function concatSplits(parts: readonly SplitData[], size: number): SplitData {
  if (parts.length === 1) return parts[0];
  const x = new Uint8Array(parts.reduce((n, p) => n + p.x.length, 0));
  const y = new Uint8Array(parts.reduce((n, p) => n + p.n, 0));
  let at = 0;
  let count = 0;
  for (const p of parts) {
    x.set(p.x, at);
    y.set(p.y, count);
    at += p.x.length;
    count += p.n;
  }
  return {
    x,
    y,
    n: parts.reduce((n, p) => n + p.n, 0),
    size,
    names: parts.flatMap((p) => p.names),
  };
}

/** The crops at `indices` of a split, as a split of their own. */
export function subset(data: SplitData, indices: ArrayLike<number>): SplitData {
  const record = data.size * data.size * 3;
  const x = new Uint8Array(indices.length * record);
  for (let i = 0; i < indices.length; i++)
    x.set(data.x.subarray(indices[i] * record, (indices[i] + 1) * record), i * record);
  return {
    x,
    y: Uint8Array.from({ length: indices.length }, (_, i) => data.y[indices[i]]),
    n: indices.length,
    size: data.size,
    names: Array.from({ length: indices.length }, (_, i) => data.names[indices[i]]),
  };
}

/** The crops at `indices` as a float32 [n, size, size, 3] batch in 0–255, and their targets (labels, unless set). */
export function batchTensors(data: SplitData, indices: ArrayLike<number>): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const record = data.size * data.size * 3;
  const x = new Float32Array(indices.length * record);
  const y = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const at = indices[i] * record;
    x.set(data.x.subarray(at, at + record), i * record);
    y[i] = data.target ? data.target[indices[i]] : data.y[indices[i]];
  }
  return {
    x: tf.tensor4d(x, [indices.length, data.size, data.size, 3]),
    y: tf.tensor1d(y),
  };
}

/** Probability of "male" for every crop of a split, in inference mode. */
export async function predictSplit(
  predict: (x: tf.Tensor4D) => tf.Tensor,
  data: SplitData,
  batch = 256,
): Promise<Float32Array> {
  const n = data.n;
  const out = new Float32Array(n);
  for (let start = 0; start < n; start += batch) {
    const indices = Array.from({ length: Math.min(batch, n - start) }, (_, i) => start + i);
    const { x, y } = batchTensors(data, indices);
    const p = tf.tidy(() => tf.reshape(predict(x), [-1]));
    out.set(await p.data(), start);
    tf.dispose([x, y, p]);
  }
  return out;
}

/** Fisher–Yates with a seeded generator: the order of an epoch is a function of the seed alone, for resuming. */
export function shuffled(n: number, rng: () => number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
