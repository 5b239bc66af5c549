import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { identityWeights } from './deepen';
import { dilateModel } from './dilate';
import { unfoldBatchNorm } from './fold';
import { loadModelFiles } from './model-files';
import { buildModel, STARTS_FROM, type Arch, type ModelOptions } from './models';
import { widenModel } from './widen';

/** Noise on widened copies' weights, as a fraction of their layer's spread: enough to pull copies apart. */
const WIDEN_NOISE = 0.01;

/**
 * A training model of `arch` that starts where the exported model in `dir` (BatchNorm folded into its convolutions;
 * its network is `exported`) stands, for fine-tuning when only the export is left: `exported` built afresh with each
 * BatchNorm unfolded on `sample` (raw Train crops), then given to `arch` when that is another network, as
 * `STARTS_FROM` says: as they are (wide8 from wide), widened (Net2WiderNet), dilated (wide64 from wide), or deepened
 * (the deep net from wide, unfolded straight into it, its added blocks starting as identities).
 */
export async function modelFromExport(
  dir: string,
  exported: Arch,
  arch: Arch,
  sample: tf.Tensor4D,
  options: ModelOptions,
): Promise<LayersModel> {
  const how = exported === arch ? 'as-is' : STARTS_FROM[arch]?.how;
  const folded = await loadModelFiles(dir);
  const model = buildModel(how === 'deepen' ? arch : exported, options);
  try {
    unfoldBatchNorm(folded, model, sample, how === 'deepen' ? identityWeights : undefined);
  } finally {
    folded.dispose();
  }
  if (exported === arch || how === 'deepen') return model;
  const target = buildModel(arch, options);
  if (how === 'as-is') target.setWeights(model.getWeights());
  else if (how === 'dilate') dilateModel(model, target);
  else widenModel(model, target, options.seed ?? 0, WIDEN_NOISE);
  model.dispose();
  return target;
}
