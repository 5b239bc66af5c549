import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel, LayerVariable } from '@tensorflow/tfjs-layers';
import { roundToGrid, type ChannelLayout } from '../../../src/core/packed-weights';
import { packedAxis, UINT4_BITS } from '../model/model-files';

/**
 * Rounds each kernel among a model's weights (values in the order of `weights`) to the grid a uint4 export stores it
 * on; other weights are returned as they are. BatchNorm folds into the kernels by a factor per output channel,
 * which moves each channel's grid with its values, so a kernel rounded here before the fold is the kernel the
 * export rounds after it.
 */
export function kernelRounder(weights: readonly LayerVariable[]): (values: Float32Array[]) => Float32Array[] {
  const layouts: Array<ChannelLayout | null> = weights.map(({ originalName, shape }) => {
    const axis = packedAxis(originalName, shape as number[]);
    return axis === null ? null : { shape: shape as number[], axis };
  });
  return (values) => values.map((v, i) => (layouts[i] ? roundToGrid(v, layouts[i]!, UINT4_BITS) : v));
}

/** Runs `f` with the model's kernels rounded as a uint4 export rounds them, then puts the weights back. */
export async function atRoundedKernels<T>(model: LayersModel, f: () => Promise<T>): Promise<T> {
  const round = kernelRounder(model.weights);
  // getWeights gives the variables themselves, which setWeights overwrites.
  const exact = model.getWeights().map((w) => w.clone());
  const values = round(exact.map((w) => w.dataSync() as Float32Array));
  const rounded = values.map((v, i) => tf.tensor(v, exact[i].shape));
  model.setWeights(rounded);
  try {
    return await f();
  } finally {
    model.setWeights(exact);
    tf.dispose([...exact, ...rounded]);
  }
}
