import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { equalizeRanges } from './equalize';
import { loadModelFiles } from './model-files';

/**
 * The element-wise mean of the weights saved in `dirs` (one architecture), BatchNorm's moving statistics
 * included: stochastic weight averaging over a run's last epochs, or a soup of exported fine-tunes of one model.
 * Either lies in one basin, so their mean is a model of its own, free of the luck of one epoch or run
 * (docs/experiments.md, run 7 and §47, measure it). Loads one model at a time. Exported models are equalized first
 * (`equalizeRanges`): each export rescales its channels by factors of its own, and only models in one such gauge
 * average to a model between them.
 */
export async function averageModels(dirs: readonly string[]): Promise<tfl.LayersModel> {
  if (dirs.length === 0) throw new Error('averageModels: no models to average');
  const model = await loadModelFiles(dirs[0]);
  equalizeRanges(model);
  const shapes = model.getWeights().map((w) => w.shape.join('×'));
  let sums = model.getWeights().map((w) => tf.clone(w));
  try {
    for (const dir of dirs.slice(1)) {
      const other = await loadModelFiles(dir);
      equalizeRanges(other);
      const weights = other.getWeights();
      const otherShapes = weights.map((w) => w.shape.join('×'));
      if (otherShapes.join() !== shapes.join()) {
        other.dispose();
        throw new Error(`${dir} holds another architecture than ${dirs[0]}: their weights cannot be averaged`);
      }
      const next = sums.map((s, i) => tf.add(s, weights[i]));
      tf.dispose(sums);
      sums = next;
      other.dispose();
    }
    const means = tf.tidy(() => sums.map((s) => tf.div(s, dirs.length)));
    model.setWeights(means);
    tf.dispose(means);
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    tf.dispose(sums);
  }
}
