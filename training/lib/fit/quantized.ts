import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { roundToGrid, type ChannelLayout } from '../../../src/core/packed-weights';
import { packedAxis } from '../model/model-files';

/** Bits a kernel weight of a uint4 export: what quantization-aware training rounds to. */
export const UINT4_BITS = 4;

/**
 * Rounds each kernel among `weights` to the grid a uint4 export stores it on; other weights are returned as they
 * are. BatchNorm folds into the kernels by a factor per output channel, which moves each channel's grid with its
 * values, so a kernel rounded here before the fold is the kernel the export rounds after it.
 */
export function kernelRounder(
  names: readonly string[],
  shapes: readonly (readonly number[])[],
): (weights: Float32Array[]) => Float32Array[] {
  const layouts: Array<ChannelLayout | null> = names.map((name, i) => {
    const axis = packedAxis(name, shapes[i]);
    return axis === null ? null : { shape: shapes[i], axis };
  });
  return (weights) => weights.map((w, i) => (layouts[i] ? roundToGrid(w, layouts[i]!, UINT4_BITS) : w));
}

/** Runs `f` with the model's kernels rounded as a uint4 export rounds them, then puts the weights back. */
export async function atRoundedKernels<T>(model: LayersModel, f: () => Promise<T>): Promise<T> {
  const round = kernelRounder(
    model.weights.map((w) => w.originalName),
    model.weights.map((w) => w.shape as number[]),
  );
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
