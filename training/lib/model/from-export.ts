import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { unfoldBatchNorm } from './fold';
import { loadModelFiles } from './model-files';
import { buildModel, type Arch, type ModelOptions } from './models';
import { widenModel } from './widen';

/** Noise on widened copies' weights, as a fraction of their layer's spread: enough to pull copies apart. */
const WIDEN_NOISE = 0.01;

/**
 * A training model of `arch` that starts where the exported model in `dir` (BatchNorm folded into its convolutions;
 * its network is `exported`) stands, for fine-tuning when only the export is left: `exported` built afresh with each
 * BatchNorm unfolded on `sample` (raw Train crops), then widened to `arch` (Net2WiderNet) when that is another,
 * wider network.
 */
export async function modelFromExport(
  dir: string,
  exported: Arch,
  arch: Arch,
  sample: tf.Tensor4D,
  options: ModelOptions,
): Promise<LayersModel> {
  const folded = await loadModelFiles(dir);
  const model = buildModel(exported, options);
  try {
    unfoldBatchNorm(folded, model, sample);
  } finally {
    folded.dispose();
  }
  if (exported === arch) return model;
  const wide = buildModel(arch, options);
  widenModel(model, wide, options.seed ?? 0, WIDEN_NOISE);
  model.dispose();
  return wide;
}
