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

/**
 * The inverse of `foldBatchNorm`, for fine-tuning an exported model: gives `target`, a freshly built training model
 * of the same network, the weights of `folded`, its inference form. Each convolution that BatchNormalization follows
 * takes the folded kernel; its normalisation takes, as moving statistics, the mean and variance of that
 * convolution's output on `sample` (a batch of training images, raw 0–255), and γ = √(variance + ε),
 * β = mean + folded bias. The normalisation then undoes itself: in inference exactly, and in training mode as
 * closely as a batch's statistics match the sample's, so training starts from the exported model's outputs.
 * `added` gives the folded weights of the layers `target` has and the export lacks (a deeper net's new blocks).
 */
export function unfoldBatchNorm(
  folded: tfl.LayersModel,
  target: tfl.LayersModel,
  sample: tf.Tensor4D,
  added?: (layer: tfl.layers.Layer) => tf.Tensor[],
): void {
  const weightsOf = (to: tfl.layers.Layer) => {
    const layer = folded.layers.find((l) => l.name === to.name);
    if (layer) return layer.getWeights();
    if (added) return added(to);
    throw new Error(`the exported model has no layer ${to.name}: it is not this network`);
  };
  // Each step in a scope of its own, its input freed once it has its output: at 512 crops a 32×32 activation of the
  // deep net is 185 MB, and a whole pass held in one scope outgrew the wasm heap.
  let x: tf.Tensor = sample;
  const step = (next: () => tf.Tensor) => {
    const y = tf.tidy(next);
    if (x !== sample) x.dispose();
    x = y;
  };
  for (let i = 0; i < target.layers.length; i++) {
    const layer = target.layers[i];
    const norm = target.layers[i + 1];
    const folds =
      CONVOLUTIONS.has(layer.getClassName()) &&
      layer.getConfig().activation === 'linear' &&
      norm?.getClassName() === 'BatchNormalization';
    if (!folds) {
      step(() => {
        if (layer.weights.length > 0) layer.setWeights(weightsOf(layer));
        return layer.apply(x, { training: false }) as tf.Tensor;
      });
      continue;
    }
    step(() => {
      const [kernel, bias] = weightsOf(layer);
      // The folded bias already holds any bias of the convolution's own.
      layer.setWeights(layer.weights.length > 1 ? [kernel, tf.zerosLike(bias)] : [kernel]);
      const y = layer.apply(x) as tf.Tensor;
      const { mean, variance } = tf.moments(y, [0, 1, 2]);
      const epsilon = norm.getConfig().epsilon as number;
      const values: Record<string, tf.Tensor> = {
        gamma: tf.sqrt(tf.add(variance, epsilon)),
        beta: bias ? tf.add(mean, bias) : mean,
        moving_mean: mean,
        moving_variance: variance,
      };
      norm.setWeights(norm.weights.map((w) => values[w.originalName.slice(w.originalName.lastIndexOf('/') + 1)]));
      return norm.apply(y, { training: false }) as tf.Tensor;
    });
    i++;
  }
  if (x !== sample) x.dispose();
}
