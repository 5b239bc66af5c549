import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

interface LayerJson {
  class_name: string;
  config: Record<string, unknown>;
}

interface SequentialJson {
  class_name: string;
  config: { name: string; layers: LayerJson[] };
}

const CONVOLUTIONS = new Set(['Conv2D', 'DepthwiseConv2D']);

function isPlainRelu(layer?: LayerJson): boolean {
  if (!layer) return false;
  if (layer.class_name === 'ReLU') return layer.config.max_value == null;
  return layer.class_name === 'Activation' && layer.config.activation === 'relu';
}

/**
 * The inference form of a trained Sequential model, with the same outputs: a convolution followed by
 * BatchNormalization takes the normalisation into its kernel and bias, and a ReLU right after becomes the
 * convolution's activation, so tfjs runs the three layers as one fused kernel. On the compact model this removes
 * two of every three ops per frame; the input contract and every other layer stay as they are.
 */
export async function foldBatchNorm(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const json = model.toJSON(null, false) as unknown as SequentialJson;
  if (json.class_name !== 'Sequential') throw new Error(`can only fold a Sequential model, not ${json.class_name}`);
  const source = json.config.layers;
  const layers: LayerJson[] = [];
  // Per layer: a model's own setWeights orders trainable weights before non-trainable ones across all layers.
  const weights: tf.Tensor[][] = [];
  const made: tf.Tensor[] = [];
  for (let i = 0; i < source.length; i++) {
    const layer = model.layers[i];
    const conv = source[i];
    const norm = source[i + 1];
    if (
      !CONVOLUTIONS.has(conv.class_name) ||
      conv.config.activation !== 'linear' ||
      norm?.class_name !== 'BatchNormalization'
    ) {
      layers.push(source[i]);
      weights.push(layer.getWeights());
      continue;
    }
    const fusedRelu = isPlainRelu(source[i + 2]);
    const [kernel, bias] = layer.getWeights();
    const value = (name: string) => {
      const w = model.layers[i + 1].weights.find((v) => v.originalName.endsWith(`/${name}`));
      if (!w) throw new Error(`${model.layers[i + 1].name}: no ${name} weight`);
      return w.read();
    };
    const [kernelFolded, biasFolded] = tf.tidy(() => {
      const scale = tf.div(value('gamma'), tf.sqrt(tf.add(value('moving_variance'), norm.config.epsilon as number)));
      // Conv2D kernels are [h, w, in, out]; depthwise kernels [h, w, in, multiplier], with out = in·multiplier.
      const [, , inputs, last] = kernel.shape;
      const perOutput = conv.class_name === 'Conv2D' ? [1, 1, 1, last] : [1, 1, inputs, last];
      const folded = tf.mul(kernel, tf.reshape(scale, perOutput));
      const shift = tf.sub(bias ?? tf.zerosLike(value('moving_mean')), value('moving_mean'));
      return [folded, tf.add(tf.mul(shift, scale), value('beta'))];
    });
    layers.push({
      ...conv,
      config: { ...conv.config, use_bias: true, activation: fusedRelu ? 'relu' : 'linear' },
    });
    weights.push([kernelFolded, biasFolded]);
    made.push(kernelFolded, biasFolded);
    i += fusedRelu ? 2 : 1;
  }
  const folded = await tfl.models.modelFromJSON({
    modelTopology: { ...json, config: { ...json.config, layers } },
  } as unknown as tf.io.ModelJSON);
  folded.layers.forEach((layer, i) => layer.setWeights(weights[i]));
  tf.dispose(made);
  return folded;
}
