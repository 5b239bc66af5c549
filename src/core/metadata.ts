import type { CropSettings } from './crop';
import type { LabelPolicy } from './labels';

/** Metrics of one split, as written by training and evaluation. */
export interface SplitMetrics {
  images: number;
  accuracy: number;
  balancedAccuracy: number;
  loss?: number;
  auc?: number;
  /** Expected calibration error (15 bins) after temperature scaling. */
  ece?: number;
  /** Share of faces shown with a label rather than "uncertain". */
  coverage?: number;
  /** Accuracy of the labels shown. */
  confidentAccuracy?: number;
}

/** One data folder a model was trained on. */
export interface DataSource {
  name: string;
  /** Relative to the repository. */
  path: string;
  layout: 'kaggle' | 'flat';
  /** Images listed, by split ("All" for a plain folder) and class. */
  counts: Record<string, Record<string, number>>;
  /** What Validation was: the folder's own split, or a tenth of its images held out by file name. */
  validation: 'split' | 'held-out tenth';
  /** The collections its images come from, each with its licence and whom to credit. */
  collections: { collection: string; images: number; licence: string; credit: string }[];
  /** sha256 of the sorted "name label" list of its images. */
  listSha256: string;
}

/** What `metadata.json` beside an exported `model.json` says about the model. */
export interface ModelMetadata {
  formatVersion: 1;
  /** Model version, shown in the app and used to keep a cached model.json and its weights together. */
  version: string;
  arch: string;
  /** Weights stored in the files, BatchNorm folded into the convolutions. */
  parameters: number;
  /** Input: [batch, inputSize, inputSize, 3] RGB in 0–255; the model normalises inside itself. */
  inputSize: number;
  crop: CropSettings;
  /** Output is the probability of labels[1]. */
  labels: ['female', 'male'];
  policy: LabelPolicy;
  /** Temperature applied to the logit before the label policy (1 = as trained). */
  temperature: number;
  /** Added to the logit after the temperature, so that 0.5 recalls both classes alike; absent in models exported
   * before it was fitted (as 0). */
  bias?: number;
  /** uint4: 4 bits a kernel weight over each output channel's range (src/core/packed-weights.ts). */
  quantization: 'float32' | 'float16' | 'uint8' | 'uint4';
  /** Validation and Test of all folders together, and of each folder by name. */
  metrics: {
    validation?: SplitMetrics;
    test?: SplitMetrics;
    quantizationDelta?: number;
    bySource?: Record<string, { validation?: SplitMetrics; test?: SplitMetrics }>;
  };
  data: {
    /** Every data folder trained on. */
    sources: DataSource[];
    /** Each folder's weight in every batch, the share of female faces in each folder's part, and the labels.csv
     * column (`--balance`) whose groups were drawn by the square root of their size within them, if any, reweighted
     * by their training loss each epoch with `--group-dro`'s η; runs from
     * before batches were mixed drew them in file order with a class-weighted loss, and have none. */
    batch?: { mix: Record<string, number>; femaleShare: number; balance?: string; groupDro?: number };
  };
  training: ModelTraining;
  /** sha256 of model.json and of each weights file, so a damaged cache, or files of two versions, are detected. */
  weights: Record<string, string>;
  tfjsVersion: string;
  created: string;
}

/** How a model was trained, as metadata.json records it. */
export interface TrainingRecord {
  epochs: number;
  bestEpoch: number;
  batch: number;
  lr: number;
  seed: number;
  seconds: number;
  /** The run (its last checkpoint) or exported model folder this one started from (`npm run train -- --from`). */
  from?: string;
  /** The version of the exported model `from` names (its metadata.json's), so the chain names a model, not a folder
   * whose contents change as models are shipped; absent when `from` is a run. */
  fromVersion?: string;
  /** `--label-smoothing`'s ε; absent when 0. */
  labelSmoothing?: number;
  /** `--mixup`'s α; absent when 0. */
  mixup?: number;
  /** `--sam`'s ρ (sharpness-aware minimisation); absent when 0. */
  sam?: number;
  /** `--aux`'s labels.csv columns, each learnt by a training-only head, and `--aux-weight`; absent without heads. */
  aux?: { columns: string[]; weight: number };
  /** `--teacher` (the exported models whose mean probability was blended into the labels, and their versions),
   * `--teacher-probs` (a file of probabilities that joined them for one folder's crops, with its sha256) and
   * `--distill`'s weight; absent without a teacher. */
  distill?: {
    teachers: { dir: string; version: string }[];
    probs?: { file: string; source: string; sha256: string };
    weight: number;
  };
  /** `--augment` and `--lr-schedule`; absent in runs from before they were recorded. */
  augment?: string;
  lrSchedule?: string;
  /** The run's stages in order, each a cycle of the learning rate with its own augmentation and batch mix (by
   * folder name); lr, augment and lrSchedule above are those of the stage the exported epoch came from. Absent in
   * runs from before stages. */
  stages?: { epochs: number; lr: number; lrSchedule: string; augment: string; mix: Record<string, number> }[];
  /** First and last epoch whose mean weights this model is (`npm run export -- --average`); else bestEpoch's. */
  averagedEpochs?: [number, number];
  /** How the run or exported model that `from` names was trained, as far as this run started from it: for a run,
   * its record at the checkpoint taken (its `epochs`); for an exported model, its metadata's. Absent without
   * `--from`, and in runs from before it was recorded. */
  fromTraining?: ModelTraining;
}

/** How a model soup was made (`npm run export -- --soup`): the exported models whose mean weights it is, in order. */
export interface SoupRecord {
  soup: { dir: string; version: string; training: ModelTraining }[];
}

/** A trained model's record, or a soup's. */
export type ModelTraining = TrainingRecord | SoupRecord;

export const METADATA_FORMAT_VERSION = 1;

/**
 * What is wrong with a model's files, given the sha256 of each file the model needs (model.json and its weights;
 * `null` for a missing file), against the sums metadata.json lists: one entry per file that is missing, unlisted,
 * or does not match its sha256. Exports made before model.json was summed list only the weights, so an unlisted
 * model.json passes.
 */
export function checksumProblems(
  listed: Readonly<Record<string, string>>,
  actual: ReadonlyMap<string, string | null>,
): string[] {
  const problems: string[] = [];
  for (const [name, sum] of actual) {
    const expected = listed[name];
    if (sum === null) problems.push(`${name} is missing`);
    else if (expected === undefined && name !== 'model.json')
      problems.push(`${name} is not listed in metadata.json (another version?)`);
    else if (expected !== undefined && sum !== expected) problems.push(`${name} does not match its sha256`);
  }
  return problems;
}

/** Checks the fields the app and the CLIs rely on; throws a message naming what is wrong. */
export function parseMetadata(json: unknown): ModelMetadata {
  const m = json as Partial<ModelMetadata> | null;
  const problems: string[] = [];
  if (!m || typeof m !== 'object') throw new Error('model metadata is not a JSON object');
  if (m.formatVersion !== METADATA_FORMAT_VERSION) problems.push(`formatVersion ${String(m.formatVersion)} is not 1`);
  if (typeof m.inputSize !== 'number' || m.inputSize <= 0) problems.push('inputSize missing');
  if (!m.crop || m.crop.size !== m.inputSize) problems.push('crop settings missing or not matching inputSize');
  if (!m.policy || typeof m.policy.threshold !== 'number') problems.push('label policy missing');
  if (typeof m.temperature !== 'number' || !(m.temperature > 0)) problems.push('temperature missing');
  if (m.bias !== undefined && !Number.isFinite(m.bias)) problems.push('bias is not a number');
  if (problems.length > 0) throw new Error(`invalid model metadata: ${problems.join(', ')}`);
  return m as ModelMetadata;
}
