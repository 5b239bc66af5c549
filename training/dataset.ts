import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const SPLITS = ['Train', 'Validation', 'Test'] as const;
export type Split = (typeof SPLITS)[number];
export const CLASSES = ['Female', 'Male'] as const;

/** Where the tutorial unpacks the Kaggle download. */
export const DEFAULT_DATA_DIR = 'gender-recognition-200k-images-celeba/Dataset';

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

export interface DatasetEntry {
  /** Absolute path. */
  path: string;
  /** Path relative to the dataset root: the stable name used in caches and reports. */
  name: string;
  split: Split | null;
  /** 1 = male, 0 = female. */
  label: 0 | 1;
  size: number;
  mtimeMs: number;
}

export interface SkippedFile {
  name: string;
  reason: string;
}

export interface Dataset {
  root: string;
  /** "kaggle": {Train,Validation,Test}/{Male,Female}; "flat": {Male,Female}. */
  layout: 'kaggle' | 'flat';
  entries: DatasetEntry[];
  skipped: SkippedFile[];
  /** Splits the layout promises but the folder lacks. */
  missingSplits: Split[];
}

export class DataError extends Error {}

export function missingDataMessage(dir: string): string {
  return (
    `No dataset at ${resolve(dir)}. Download the Kaggle dataset "gender-recognition-200k-images-celeba" ` +
    '(https://www.kaggle.com/datasets/ashishjangra27/gender-recognition-200k-images-celeba), unpack it so that ' +
    `${DEFAULT_DATA_DIR}/{Train,Validation,Test}/{Male,Female}/*.jpg exists here, or pass the folder that holds ` +
    'Train/, Validation/ and Test/ (or just Male/ and Female/) with --data <dir>.'
  );
}

function subdir(parent: string, name: string): string | null {
  let found: Dirent | undefined;
  try {
    found = readdirSync(parent, { withFileTypes: true }).find((d) => d.name.toLowerCase() === name.toLowerCase());
  } catch {
    return null;
  }
  if (!found) return null;
  const path = join(parent, found.name);
  try {
    return statSync(path).isDirectory() ? path : null;
  } catch {
    return null;
  }
}

function listClass(root: string, dir: string, split: Split | null, label: 0 | 1, out: Dataset): void {
  for (const d of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, d.name);
    const name = relative(root, path);
    if (d.name.startsWith('.')) continue;
    let stat;
    try {
      stat = statSync(path);
    } catch (err) {
      out.skipped.push({
        name,
        reason: `cannot stat: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
      continue;
    }
    if (stat.isDirectory()) continue;
    if (!IMAGE_EXTENSIONS.test(d.name)) {
      out.skipped.push({ name, reason: 'not an image file name' });
      continue;
    }
    if (stat.size === 0) {
      out.skipped.push({ name, reason: 'empty file' });
      continue;
    }
    out.entries.push({ path, name, split, label, size: stat.size, mtimeMs: Math.floor(stat.mtimeMs) });
  }
}

/** Lists a dataset folder in the Kaggle layout or a plain {Male,Female} folder. Throws DataError when unusable. */
export function listDataset(dir: string): Dataset {
  const root = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) throw new DataError(missingDataMessage(dir));
  const out: Dataset = { root, layout: 'flat', entries: [], skipped: [], missingSplits: [] };
  const splitDirs = SPLITS.map((s) => [s, subdir(root, s)] as const);
  if (splitDirs.some(([, d]) => d)) {
    out.layout = 'kaggle';
    for (const [split, d] of splitDirs) {
      if (!d) {
        out.missingSplits.push(split);
        continue;
      }
      CLASSES.forEach((cls, label) => {
        const c = subdir(d, cls);
        if (c) listClass(root, c, split, label as 0 | 1, out);
      });
    }
  } else {
    CLASSES.forEach((cls, label) => {
      const c = subdir(root, cls);
      if (c) listClass(root, c, null, label as 0 | 1, out);
    });
  }
  if (out.entries.length === 0) {
    throw new DataError(
      `No images in ${root}: expected {Train,Validation,Test}/{Male,Female}/*.jpg (or {Male,Female}/*.jpg).`,
    );
  }
  return out;
}

export function countBy(entries: readonly DatasetEntry[]): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const e of entries) {
    const split = e.split ?? 'All';
    counts[split] ??= { Female: 0, Male: 0 };
    counts[split][CLASSES[e.label]] += 1;
  }
  return counts;
}
