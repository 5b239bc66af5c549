import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Gives `target` the weights of `source`, a network with the same layers (by name), where a depthwise filter of
 * `target` may be larger: k×k taps go into the (2k−1)×(2k−1) filter two apart, the taps between them zero. That
 * filter at stride 2 over an input at twice the resolution reads what the k×k one read at stride 1, so wide64 (its
 * stem at stride 1, its first block's 5×5 filter at stride 2) starts with the wide net's outputs.
 */
export function dilateModel(source: tfl.LayersModel, target: tfl.LayersModel): void {
  for (const to of target.layers) {
    const weights = source.getLayer(to.name).getWeights();
    const made = tf.tidy(() =>
      weights.map((w, i) => {
        const shape = to.weights[i].shape as number[];
        if (w.shape.every((n, d) => n === shape[d])) return w.clone();
        const [k, , channels, multiplier] = w.shape;
        if (to.getClassName() !== 'DepthwiseConv2D' || shape[0] !== 2 * k - 1 || shape[1] !== 2 * k - 1)
          throw new Error(`dilateModel: ${to.name} is [${w.shape}] in one network and [${shape}] in the other`);
        // Each tap followed by a zero along both axes, then the trailing zeros cut off.
        const spaced = tf.reshape(tf.stack([w, tf.zerosLike(w)], 1), [2 * k, k, channels, multiplier]);
        const both = tf.reshape(tf.stack([spaced, tf.zerosLike(spaced)], 2), [2 * k, 2 * k, channels, multiplier]);
        return tf.slice(both, [0, 0, 0, 0], shape);
      }),
    );
    to.setWeights(made);
    tf.dispose(made);
  }
}
