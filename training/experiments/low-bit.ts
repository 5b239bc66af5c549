/**
 * What fewer bits a weight would cost (issue 15; §41 of docs/experiments.md): issue 15 allows 500 KB of weights,
 * which as uint8 holds the wide net and no more. Each kernel of an exported model is rounded to `bits` bits per
 * weight, with its own range for every output channel (a depthwise kernel's channel is its output), biases kept as
 * they are; the copy is scored on validation crops as the app scores a photo (with its mirror), beside the export.
 * Run:
 *   npx tsx training/experiments/low-bit.ts --model <dir> [--bits 4,5,6] ../shared/data/celeba/Dataset \
 *     ../shared/data/diverse
 * The crops are the training cache's, Validation/ for Kaggle-layout folders and the held-out tenth for plain ones.
 * Prints each folder's balanced accuracy, the lower of them (the rule that chooses epochs), the worst race where
 * labels.csv has one, and the weights' size at that width as `--quantize uint4` stores 4 bits (src/core/packed-weights.ts:
 * a channel's range as two float32 values, biases float32; §41 counted two float16 values, 4 bytes a channel less).
 * `train --quantize uint4` trains for that grid and `export --quantize uint4` writes it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { groupRecords, groupStats, spread } from '../../src/core/groups';
import { balancedAccuracy, confusion } from '../../src/core/metrics';
import { packedBytes, roundToGrid } from '../../src/core/packed-weights';
import { formatBytes, loadSources, readModelDir, scoreSplits } from '../cli/common';
import { groupsOf } from '../lib/data/labels';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { weightsBytes } from '../lib/model/exporter';
import { loadModelFiles, packedAxis, saveModelFiles } from '../lib/model/model-files';

const { values, positionals } = parseArgs({
  options: { model: { type: 'string' }, bits: { type: 'string', default: '4,5,6' } },
  allowPositionals: true,
});
const widths = values.bits.split(',').map(Number);
if (!values.model || positionals.length === 0 || !widths.every((b) => Number.isInteger(b) && b >= 2 && b <= 8)) {
  console.error('usage: low-bit.ts --model <dir> [--bits 4,5,6] <data dir> [...]');
  process.exit(2);
}
const modelDir = values.model;
await initTrainingBackend();
const metadata = readModelDir(modelDir);
const sources = await loadSources(positionals, metadata.crop);
const validation = sources.map((s) => s.validation);
const races = sources.map((s) => groupsOf(s.dataset.root, 'race', s.validation.names));

// The export's weights as tfjs decodes them (uint8 to float32), in the order setWeights takes them.
const model = await loadModelFiles(modelDir);
const exported = model.weights.map((w) => ({
  name: w.originalName,
  shape: w.shape as number[],
  values: w.read().dataSync() as Float32Array,
}));

/** A copy of the export whose kernels are rounded to `bits` (float32 on disk), and its weights' size at `bits`. */
async function lowBitCopy(bits: number): Promise<{ dir: string; bytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'facesense-low-bit-'));
  cpSync(modelDir, dir, { recursive: true });
  let bytes = 0;
  const tensors = exported.map(({ name, shape, values }) => {
    const axis = packedAxis(name, shape);
    bytes += axis === null ? 4 * values.length : packedBytes(values.length, shape[axis], bits);
    return tf.tensor(axis === null ? values : roundToGrid(values, { shape, axis }, bits), shape);
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
  const copy = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
  copy.weights = await saveModelFiles(model, dir);
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify(copy));
  return { dir, bytes };
}

const pct = (x: number | null | undefined) => (x == null ? '–' : `${(100 * x).toFixed(2)} %`);
const names = sources.map((s) => s.name);
console.log(`| weights | size | ${names.map((n) => `${n} balanced`).join(' | ')} | the rule (lower) | worst race |`);
console.log(`| --- | --- |${names.map(() => ' --- |').join('')} --- | --- |`);
for (const bits of [null, ...widths]) {
  const { dir, bytes } =
    bits === null ? { dir: modelDir, bytes: weightsBytes(modelDir, metadata) } : await lowBitCopy(bits);
  const probs = await scoreSplits(dir, validation);
  if (dir !== modelDir) rmSync(dir, { recursive: true });
  const balanced = probs.map((p, j) => balancedAccuracy(confusion(p, validation[j].y)));
  const worst = probs.flatMap((p, j) => {
    const race = races[j];
    return race ? [spread(groupStats(groupRecords(race, validation[j].y, p))).worst] : [];
  });
  console.log(
    `| ${bits === null ? 'as exported' : `${bits} bits a weight`} | ${formatBytes(bytes)} | ` +
      `${balanced.map(pct).join(' | ')} | ${pct(Math.min(...balanced))} | ` +
      `${worst.map((w) => (w ? `${w.group} ${pct(w.accuracy)}` : '–')).join(', ')} |`,
  );
}
