import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

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
  /** The split folder it lies in; null in the flat layout. */
  split?: Split | null;
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

/** Why a directory entry cannot be read, in words (symlink loops and dangling links included). */
function statProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return 'symbolic link loop';
  if (code === 'ENOENT') return 'broken symbolic link';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return `cannot read: ${code ?? (err as Error).message}`;
}

function listClass(root: string, dir: string, split: Split | null, label: 0 | 1, out: Dataset): void {
  const skip = (name: string, reason: string) => out.skipped.push({ name, reason, split });
  let dirents: Dirent[];
  try {
    dirents = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    skip(relative(root, dir), statProblem(err));
    return;
  }
  // Joined by hand: path.join and path.relative normalise every time, a third of listing 200,000 files.
  const folder = relative(root, dir);
  for (const d of dirents.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = dir + sep + d.name;
    const name = folder + sep + d.name;
    // Hidden files are OS or editor droppings (.DS_Store, ._x.jpg resource forks), never photos: listed, not read.
    if (d.name.startsWith('.')) {
      skip(name, 'hidden file');
      continue;
    }
    let stat;
    try {
      stat = statSync(path);
    } catch (err) {
      skip(name, statProblem(err));
      continue;
    }
    if (stat.isDirectory()) skip(name, 'a folder (class folders are not searched recursively)');
    else if (!IMAGE_EXTENSIONS.test(d.name)) skip(name, 'not an image file name');
    else if (stat.size === 0) skip(name, 'empty file');
    else out.entries.push({ path, name, split, label, size: stat.size, mtimeMs: Math.floor(stat.mtimeMs) });
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
    const skipped =
      out.skipped.length > 0
        ? ` (${out.skipped.length} files skipped, e.g. ${out.skipped[0].name}: ${out.skipped[0].reason})`
        : '';
    throw new DataError(
      `No images in ${root}${skipped}: expected {Train,Validation,Test}/{Male,Female}/*.jpg (or {Male,Female}/*.jpg).`,
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
