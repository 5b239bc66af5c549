import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createHash } from 'node:crypto';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DEFAULT_CROP } from '../src/core/crop';
import { DEFAULT_POLICY } from '../src/core/labels';
import { METADATA_FORMAT_VERSION, type ModelMetadata, type SplitMetrics } from '../src/core/metadata';
import { accuracy, balancedAccuracy, confusion, logLoss } from '../src/core/metrics';
import { countBy, type Dataset } from './dataset';
import { loadModelFiles, replaceDirAtomically, saveModelFiles, type Quantization } from './model-files';
import { countParams } from './models';
import { REPO_ROOT } from './node-io';
import { predictSplit, type SplitData } from './splits';

export async function splitMetrics(model: tfl.LayersModel, data: SplitData): Promise<SplitMetrics> {
  const probs = await predictSplit((x) => model.predict(x) as tf.Tensor, data);
  const c = confusion(probs, data.y);
  return { images: data.n, accuracy: accuracy(c), balancedAccuracy: balancedAccuracy(c), loss: logLoss(probs, data.y) };
}

/** sha256 of the sorted "name label" list: says exactly which files a model was trained and tested on. */
export function fileListHash(dataset: Dataset): string {
  const lines = dataset.entries.map((e) => `${e.name}\t${e.label}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

export interface ExportInput {
  model: tfl.LayersModel;
  arch: string;
  out: string;
  quantization: Quantization;
  dataset: Dataset;
  validation: SplitData;
  test: SplitData;
  training: ModelMetadata['training'];
}

/**
 * Quantizes the model, measures what quantization costs on Validation, and writes model.json, weights and
 * metadata.json to `out` atomically. Returns the metadata written.
 */
export async function exportModel(input: ExportInput): Promise<ModelMetadata> {
  const { model, out, quantization, validation, test } = input;
  const floatValidation = await splitMetrics(model, validation);
  const probe = `${out}.check-${process.pid}`;
  await saveModelFiles(model, probe, quantization);
  const quantized = await loadModelFiles(probe);
  rmSync(probe, { recursive: true, force: true });
  const validationMetrics = await splitMetrics(quantized, validation);
  const testMetrics = test.n > 0 ? await splitMetrics(quantized, test) : undefined;
  quantized.dispose();

  const created = new Date().toISOString();
  const metadata: ModelMetadata = {
    formatVersion: METADATA_FORMAT_VERSION,
    version: `${created.slice(0, 10)}-${input.arch}-${fileListHash(input.dataset).slice(0, 8)}`,
    arch: input.arch,
    parameters: countParams(model),
    inputSize: DEFAULT_CROP.size,
    crop: DEFAULT_CROP,
    labels: ['female', 'male'],
    policy: DEFAULT_POLICY,
    temperature: 1,
    quantization,
    metrics: {
      validation: validationMetrics,
      test: testMetrics,
      quantizationDelta: validationMetrics.accuracy - floatValidation.accuracy,
    },
    data: {
      path: relative(REPO_ROOT, input.dataset.root) || '.',
      counts: countBy(input.dataset.entries),
      listSha256: fileListHash(input.dataset),
    },
    training: input.training,
    weights: {},
    tfjsVersion: tf.version_core,
    created,
  };
  await replaceDirAtomically(out, async (tmp) => {
    metadata.weights = await saveModelFiles(model, tmp, quantization);
    writeFileSync(join(tmp, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
  });
  return metadata;
}

export function weightsBytes(dir: string, metadata: ModelMetadata): number {
  return Object.keys(metadata.weights).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}
