import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLAZEFACE_FILES, type BlazeFaceModels } from '../../src/vision/detector';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BLAZEFACE_DIR = join(REPO_ROOT, 'public', 'models', 'blazeface');
export const BLAZEFACE_MODEL = join(BLAZEFACE_DIR, BLAZEFACE_FILES.shortRange);
export const BLAZEFACE_FULL_MODEL = join(BLAZEFACE_DIR, BLAZEFACE_FILES.fullRange);

/** Both detector models (src/vision/detector.ts), read from disk. */
export function blazeFaceModels(): BlazeFaceModels {
  return { shortRange: fileModelHandler(BLAZEFACE_MODEL), fullRange: fileModelHandler(BLAZEFACE_FULL_MODEL) };
}

/**
 * Reads a tfjs model.json and its weight files from disk. tfjs's own file:// loader needs tfjs-node, which cannot
 * be installed here, so we hand the model over from memory instead.
 */
export function fileModelHandler(modelJsonPath: string): tf.io.IOHandler {
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (err) {
    const hint =
      dirname(modelJsonPath) === BLAZEFACE_DIR ? " (run 'npm install': its postinstall step installs them)" : '';
    throw new Error(`cannot read model ${modelJsonPath}${hint}: ${(err as Error).message}`);
  }
  const dir = dirname(modelJsonPath);
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const buffers = json.weightsManifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dir, p))));
  const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
  return tf.io.fromMemory({
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    trainingConfig: json.trainingConfig,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs,
    weightData,
  });
}

/** Whether a process with this id runs (EPERM: it does, as another user). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
