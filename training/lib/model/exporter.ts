import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DEFAULT_CROP, type CropSettings } from '../../../src/core/crop';
import {
  balancedWeights,
  calibrated,
  chooseUncertainBand,
  confidentStats,
  fitCalibration,
  meanLogit,
} from '../../../src/core/calibration';
import { DEFAULT_POLICY, type LabelPolicy } from '../../../src/core/labels';
import { METADATA_FORMAT_VERSION, type ModelMetadata, type SplitMetrics } from '../../../src/core/metadata';
import {
  accuracy,
  auc,
  balancedAccuracy,
  confusion,
  expectedCalibrationError,
  logLoss,
} from '../../../src/core/metrics';
import { countBy, type Dataset } from '../data/dataset';
import { equalizeRanges } from './equalize';
import { foldBatchNorm } from './fold';
import { atRoundedKernels } from '../fit/quantized';
import { loadModelFiles, replaceDirAtomically, saveModelFiles, type Quantization } from './model-files';
import { countParams } from './models';
import { REPO_ROOT } from '../node-io';
import { concatSplits, predictSplit, type SourceData, type SplitData } from '../data/splits';
import { collectionsOf } from '../data/sources';

export function probsMetrics(probs: Float32Array, labels: Uint8Array, policy?: LabelPolicy): SplitMetrics {
  const c = confusion(probs, labels);
  const metrics: SplitMetrics = {
    images: labels.length,
    accuracy: accuracy(c),
    balancedAccuracy: balancedAccuracy(c),
    loss: logLoss(probs, labels),
    auc: auc(probs, labels),
    ece: expectedCalibrationError(probs, labels),
  };
  if (policy) {
    const confident = confidentStats(probs, labels, policy.threshold, policy.uncertainBand);
    metrics.coverage = confident.coverage;
    metrics.confidentAccuracy = confident.accuracy;
  }
  return metrics;
}

export async function splitMetrics(model: tfl.LayersModel, data: SplitData): Promise<SplitMetrics> {
  return probsMetrics(await predictSplit((x) => model.predict(x) as tf.Tensor, data), data.y);
}

/** sha256 of the sorted "name label" list: says exactly which files a model was trained and tested on. */
/** The crop a run trains on, from its options; runs from before --crop-scale cropped at the default. */
export function runCrop(options: { cropScale?: number }): CropSettings {
  return { ...DEFAULT_CROP, scale: options.cropScale ?? DEFAULT_CROP.scale };
}

export function fileListHash(dataset: Dataset): string {
  const lines = dataset.entries.map((e) => `${e.name}\t${e.label}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

export interface ExportInput {
  model: tfl.LayersModel;
  arch: string;
  /** The crop the model was trained on: the app and evaluate crop faces with it. */
  crop: CropSettings;
  out: string;
  quantization: Quantization;
  /** The folders trained on, with their Validation and Test crops. */
  sources: readonly SourceData[];
  batch: ModelMetadata['data']['batch'];
  training: ModelMetadata['training'];
}

/**
 * The model as an export stores it, before its weights are encoded: BatchNorm folded into the convolutions (the same
 * outputs, fewer ops per frame); for uint8, the channels' ranges equalized (the same outputs, no channel coarsening
 * its tensor's step); for uint4, the kernels rounded before the fold, as a uint4 run trains them: folded, they stay
 * on the grids the export packs them on, where rounding the folded kernels afresh would flip values lying near a
 * midpoint by a step.
 */
export async function inferenceForm(model: tfl.LayersModel, quantization: Quantization): Promise<tfl.LayersModel> {
  const inference = await (quantization === 'uint4'
    ? atRoundedKernels(model, () => foldBatchNorm(model))
    : foldBatchNorm(model));
  if (quantization === 'uint8') equalizeRanges(inference);
  return inference;
}

/**
 * Takes the model to its inference form (`inferenceForm`), quantizes it and measures what that costs on Validation; fits the temperature and bias (each folder's women and men weighted
 * alike) and the "uncertain" band (at least 97 % of faces labelled, as one crop and as a photo's face is, averaged
 * with its mirror image) on all folders' Validation together; reports Validation and Test with both applied, for
 * all folders and for each; and writes model.json, weights and metadata.json to `out` atomically. Returns the
 * metadata written.
 */
export async function exportModel(input: ExportInput): Promise<ModelMetadata> {
  const { model, out, quantization, sources } = input;
  const size = input.crop.size;
  const validation = concatSplits(
    sources.map((s) => s.validation),
    size,
  );
  const floatValidation = await splitMetrics(model, validation);
  const inference = await inferenceForm(model, quantization);
  // The quantized copy is measured from the system's temp folder: a kill here leaves nothing beside `out`.
  const probe = mkdtempSync(join(tmpdir(), 'facesense-quantized-'));
  await saveModelFiles(inference, probe, quantization);
  const quantized = await loadModelFiles(probe);
  rmSync(probe, { recursive: true, force: true });
  const predict = (x: tf.Tensor4D) => quantized.predict(x) as tf.Tensor;
  const rawValidation = await predictSplit(predict, validation);
  // Every folder's women and men weigh alike, so the fit cannot favour the larger folder or class.
  const folderOf = sources.flatMap((s, i) => Array<number>(s.validation.n).fill(i));
  const calibration = fitCalibration(rawValidation, validation.y, balancedWeights(validation.y, folderOf));
  const calibratedSplit = async (data: SplitData) =>
    (await predictSplit(predict, data)).map((p) => calibrated(p, calibration));
  const calibratedValidation = rawValidation.map((p) => calibrated(p, calibration));
  // A photo's faces are classified with their mirror images too (withFlipAveraging), whose scores spread a little
  // differently: the band is the narrower of the two that leave 97 % of faces labelled, so both ways reach it.
  const flipped = await predictSplit((x) => predict(tf.image.flipLeftRight(x)), validation);
  const mirroredValidation = flipped.map((p, i) => meanLogit([calibrated(p, calibration), calibratedValidation[i]]));
  const band = Math.min(
    ...[calibratedValidation, mirroredValidation].map(
      (probs) => chooseUncertainBand(probs, validation.y, DEFAULT_POLICY.threshold).band,
    ),
  );
  const policy: LabelPolicy = { threshold: DEFAULT_POLICY.threshold, uncertainBand: band };
  const metricsOf = async (data: SplitData) =>
    data.n > 0 ? probsMetrics(await calibratedSplit(data), data.y, policy) : undefined;
  const validationMetrics = probsMetrics(calibratedValidation, validation.y, policy);
  const testMetrics = await metricsOf(
    concatSplits(
      sources.map((s) => s.test),
      size,
    ),
  );
  const bySource: NonNullable<ModelMetadata['metrics']['bySource']> = {};
  for (const source of sources)
    bySource[source.name] = { validation: await metricsOf(source.validation), test: await metricsOf(source.test) };
  quantized.dispose();

  const created = new Date().toISOString();
  const described: Omit<ModelMetadata, 'version' | 'weights'> = {
    formatVersion: METADATA_FORMAT_VERSION,
    arch: input.arch,
    parameters: countParams(inference),
    inputSize: input.crop.size,
    crop: input.crop,
    labels: ['female', 'male'],
    policy,
    ...calibration,
    quantization,
    metrics: {
      validation: validationMetrics,
      test: testMetrics,
      quantizationDelta: validationMetrics.accuracy - floatValidation.accuracy,
      bySource,
    },
    data: {
      sources: sources.map(({ name, dataset, heldOut }) => ({
        name,
        path: relative(REPO_ROOT, dataset.root) || '.',
        layout: dataset.layout,
        counts: countBy(dataset.entries),
        validation: heldOut ? 'held-out tenth' : 'split',
        collections: collectionsOf(dataset),
        listSha256: fileListHash(dataset),
      })),
      batch: input.batch,
    },
    training: input.training,
    tfjsVersion: tf.version_core,
    created,
  };
  let metadata!: ModelMetadata;
  await replaceDirAtomically(out, async (tmp) => {
    const weights = await saveModelFiles(inference, tmp, quantization);
    // Named by the weights' sums, so two exports of one day differ.
    const sum = createHash('sha256').update(Object.values(weights).join()).digest('hex');
    metadata = { ...described, version: `${created.slice(0, 10)}-${input.arch}-${sum.slice(0, 8)}`, weights };
    writeFileSync(join(tmp, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
  });
  inference.dispose();
  return metadata;
}

export function weightsBytes(dir: string, metadata: ModelMetadata): number {
  return Object.keys(metadata.weights)
    .filter((f) => f !== 'model.json')
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}
