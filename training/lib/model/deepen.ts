import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Net2DeeperNet (Chen, Goodfellow and Shlens, 2016) for the deep net's repeated blocks: the folded (inference-form)
 * weights of a convolution that passes its input through unchanged, a one at the centre tap (depthwise) or the
 * identity matrix (1×1), and a zero bias. Unfolded on a sample (`unfoldBatchNorm`), its BatchNorm undoes itself too,
 * and the ReLU after it keeps its input, which a ReLU made: the block changes nothing until it is trained.
 */
export function identityWeights(layer: tfl.layers.Layer): tf.Tensor[] {
  const [height, width, channels, out] = layer.weights[0].shape as number[];
  const kind = layer.getClassName();
  if (kind === 'DepthwiseConv2D' && out === 1 && height % 2 === 1 && width % 2 === 1) {
    const kernel = new Float32Array(height * width * channels);
    kernel.fill(1, ((height * width - 1) / 2) * channels, ((height * width + 1) / 2) * channels);
    return [tf.tensor4d(kernel, [height, width, channels, 1]), tf.zeros([channels])];
  }
  if (kind === 'Conv2D' && height === 1 && width === 1 && channels === out)
    return [tf.reshape(tf.eye(channels), [1, 1, channels, channels]), tf.zeros([channels])];
  throw new Error(
    `${layer.name}: a ${height}×${width} ${kind} from ${channels} channels to ${out} cannot start as an identity`,
  );
}
