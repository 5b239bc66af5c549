import * as tfc from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-layers';

export type Arch = 'compact' | 'wide' | 'wider' | 'wide8' | 'wide64' | 'deep' | 'seed';

/**
 * The network each net can start from when fine-tuned from another's weights, and how it takes them: widened
 * (`widenModel`: the wide net from the compact), as they are (wide8 from the wide net), deepened (the deep net
 * from the wide net: its added blocks start as identities), or dilated (wide64 from the wide net: `dilateModel`).
 */
export const STARTS_FROM: Partial<Record<Arch, { arch: Arch; how: 'widen' | 'as-is' | 'deepen' | 'dilate' }>> = {
  wide: { arch: 'compact', how: 'widen' },
  wide8: { arch: 'wide', how: 'as-is' },
  wide64: { arch: 'wide', how: 'dilate' },
  deep: { arch: 'wide', how: 'deepen' },
  wider: { arch: 'wide', how: 'widen' },
};

export interface ModelOptions {
  /** Side of the square RGB input, in pixels. */
  inputSize: number;
  /** BatchNorm moving-average momentum (default 0.99, as Keras). */
  bnMomentum?: number;
  /**
   * Seeds every initializer, so a given seed builds identical weights. Dropout stays unseeded: tfjs reuses a seeded
   * mask on every call, which would drop the same units for the whole training run.
   */
  seed?: number;
}

type LayerFactory = (seed: number) => tf.layers.Layer;

type BatchNormArgs = Parameters<typeof tf.layers.batchNormalization>[0];
type BatchNorm = ReturnType<typeof tf.layers.batchNormalization>;
/** tfjs-layers exports the layer's factory, not its class. */
const StockBatchNorm = tf.layers.batchNormalization().constructor as (new (args?: BatchNormArgs) => BatchNorm) &
  Pick<typeof tfc.serialization.Serializable, 'fromConfig'>;

/**
 * tfjs-layers' BatchNormalization with a faster training-mode pass: batch statistics and normalisation run as one
 * custom-gradient op whose backward pass is the closed form
 *   dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)),  dγ = Σ dy · x̂,  dβ = Σ dy
 * (about 5 passes over the activation) instead of autodiff through moments and FusedBatchNorm (about 25 kernels, a
 * third of a training step on wasm). Inference, weights, and the moving-average update are unchanged, and it
 * serialises as a plain BatchNormalization, so saved models load anywhere.
 */
export class FastBatchNorm extends StockBatchNorm {
  static readonly className = 'BatchNormalization';

  override call(inputs: tfc.Tensor | tfc.Tensor[], kwargs: { [key: string]: unknown }): tfc.Tensor | tfc.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const { axis, epsilon, center, scale } = this.getConfig() as {
      axis: number;
      epsilon: number;
      center: boolean;
      scale: boolean;
    };
    if (!kwargs['training'] || !center || !scale || (axis !== -1 && axis !== x.rank - 1))
      return super.call(inputs, kwargs);
    const [gamma, beta] = ['gamma', 'beta'].map((name) => this.weight(name));
    return tfc.tidy(() => {
      const axes = [...Array(x.rank - 1).keys()];
      let stats: [tfc.Tensor, tfc.Tensor] | null = null;
      const normalize = tfc.customGrad((...args: Array<tfc.Tensor | tfc.GradSaveFunc>) => {
        const [input, g, b, save] = args as [tfc.Tensor, tfc.Tensor, tfc.Tensor, tfc.GradSaveFunc];
        const mean = tfc.mean(input, axes);
        const variance = tfc.mean(tfc.squaredDifference(input, mean), axes);
        stats = [tfc.keep(mean), tfc.keep(variance)];
        save([input, mean, variance, g]);
        return {
          value: tfc.batchNorm(input, mean, variance, b, g, epsilon),
          // tfjs runs a custom gradient outside the per-input tidy of its backward pass, so without this tidy its
          // activation-sized temporaries would live until the whole backward pass ends.
          gradFunc: (dy: tfc.Tensor, [xs, m, v, gs]: tfc.Tensor[]) =>
            tfc.tidy(() => {
              const count = xs.size / m.size;
              const xhat = tfc.batchNorm(xs, m, v, undefined, undefined, epsilon);
              const dBeta = tfc.sum(dy, axes);
              const dGamma = tfc.sum(tfc.mul(dy, xhat), axes);
              const a = tfc.mul(gs, tfc.rsqrt(tfc.add(v, epsilon)));
              // dx = a·dy + (−a·dγ/n)·x̂ + (−a·dβ/n): the second and third terms as one affine batchNorm of x̂.
              const affine = tfc.batchNorm(
                xhat,
                tfc.zerosLike(m),
                tfc.onesLike(v),
                tfc.mul(a, tfc.div(dBeta, -count)),
                tfc.mul(a, tfc.div(dGamma, -count)),
                0,
              );
              return [tfc.add(tfc.mul(dy, a), affine), dGamma, dBeta];
            }),
        };
      });
      const y = normalize(x, gamma.read(), beta.read());
      const [mean, variance] = stats!;
      if (statsSink) statsSink.push({ layer: this.name, mean, variance });
      else {
        this.updateMovingStats(mean, variance);
        tfc.dispose([mean, variance]);
      }
      return y;
    });
  }

  private weight(name: string) {
    const w = this.weights.find((v) => v.originalName.endsWith(`/${name}`));
    if (!w) throw new Error(`${this.name}: no ${name} weight`);
    return w;
  }

  /** One step of the moving averages towards a batch's statistics. */
  updateMovingStats(mean: tfc.Tensor, variance: tfc.Tensor): void {
    const { momentum } = this.getConfig() as { momentum: number };
    const [movingMean, movingVariance] = ['moving_mean', 'moving_variance'].map((name) => this.weight(name));
    tfc.tidy(() => {
      for (const [v, value] of [
        [movingMean, mean],
        [movingVariance, variance],
      ] as const) {
        v.write(tfc.sub(v.read(), tfc.mul(tfc.sub(v.read(), value), 1 - momentum)));
      }
    });
  }
}

/** One FastBatchNorm layer's batch statistics from one training-mode forward pass. */
export interface BatchNormStats {
  layer: string;
  mean: tfc.Tensor;
  variance: tfc.Tensor;
}

let statsSink: BatchNormStats[] | null = null;

/**
 * Runs `f` with FastBatchNorm layers handing over their batch statistics, in call order, instead of updating their
 * moving averages. Data-parallel training applies every thread's statistics in batch order afterwards, so that the
 * moving averages, like the gradients, do not depend on how many threads shared the batch. The caller owns the
 * returned tensors.
 */
export function collectBatchNormStats<T>(f: () => T): { result: T; stats: BatchNormStats[] } {
  const outer = statsSink;
  const stats: BatchNormStats[] = [];
  statsSink = stats;
  try {
    return { result: f(), stats };
  } finally {
    statsSink = outer;
  }
}

/** Applies statistics from `collectBatchNormStats` (possibly another thread's) to `model`'s moving averages. */
export function applyBatchNormStats(model: tf.LayersModel, stats: BatchNormStats[]): void {
  for (const { layer, mean, variance } of stats) {
    const bn = model.getLayer(layer);
    if (!(bn instanceof FastBatchNorm)) throw new Error(`${layer} is not a FastBatchNorm layer`);
    bn.updateMovingStats(mean, variance);
  }
}
// Models rebuilt from JSON in this (training) process get the fast training pass too.
tfc.serialization.registerClass(FastBatchNorm);

type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];
type Conv2D = ReturnType<typeof tf.layers.conv2d>;
const StockConv2D = tf.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as (new (args: Conv2DArgs) => Conv2D) &
  Pick<typeof tfc.serialization.Serializable, 'fromConfig'>;

/**
 * tfjs-layers' Conv2D runs through `tf.fused.conv2d`, whose custom gradient always computes the gradient of the
 * input too, even where nothing needs it: for the stem, whose input is the image, that was 5 % of a training step.
 * Without bias or activation (compact's convs, BatchNorm follows) plain `conv2d` gives the same output and lets
 * autodiff skip it. Serialises as a plain Conv2D.
 */
export class LeanConv2D extends StockConv2D {
  static readonly className = 'Conv2D';

  override call(inputs: tfc.Tensor | tfc.Tensor[], kwargs: { [key: string]: unknown }): tfc.Tensor | tfc.Tensor[] {
    const { useBias, activation, strides, padding, dataFormat, dilationRate } = this.getConfig() as {
      useBias: boolean;
      activation: string;
      strides: [number, number];
      padding: 'same' | 'valid';
      dataFormat: string;
      dilationRate: [number, number];
    };
    if (useBias || activation !== 'linear' || dataFormat !== 'channelsLast') return super.call(inputs, kwargs);
    const kernel = this.weights.find((v) => v.originalName.endsWith('/kernel'));
    if (!kernel) throw new Error(`${this.name}: no kernel weight`);
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tfc.Tensor4D;
    return tfc.conv2d(x, kernel.read() as tfc.Tensor4D, strides, padding, 'NHWC', dilationRate);
  }
}
tfc.serialization.registerClass(LeanConv2D);

/**
 * Builds the classifier. Contract: input is RAW 0–255 RGB [n, size, size, 3] (normalised to [−1, 1] inside the model
 * by its first layer), output [n, 1] is the probability of "male".
 */
export function buildModel(arch: Arch = 'compact', opts: ModelOptions = { inputSize: 64 }): tf.LayersModel {
  const { inputSize, seed = 1, bnMomentum = 0.99 } = opts;
  const layers = arch === 'seed' ? seedLayers(bnMomentum) : compactLayers(bnMomentum, NETS[arch]);
  const model = tf.sequential({ name: arch });
  model.add(
    tf.layers.rescaling({ scale: 1 / 127.5, offset: -1, inputShape: [inputSize, inputSize, 3], name: 'rescale' }),
  );
  layers.forEach((make, i) => model.add(make(seed * 1000 + i)));
  return model;
}

/**
 * The tutorial network (AlexNet-like, ReLU inside each conv, BatchNorm after it). Its input was 227-ish; at the
 * default 64×64 the first conv keeps the tutorial's 'valid' padding (64 → 14), pools are 2×2 stride 2 'valid'
 * (14 → 7, 7 → 3), the 11×11 conv and the 3×3 convs are 'same', so the head flattens 3×3×256 = 2304 features.
 */
function seedLayers(momentum: number): LayerFactory[] {
  const conv =
    (filters: number, kernelSize: number, strides: number, padding: 'same' | 'valid', name: string) => (seed: number) =>
      tf.layers.conv2d({
        filters,
        kernelSize,
        strides,
        padding,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        name,
      });
  const bn = (name: string) => () => new FastBatchNorm({ name, momentum });
  const pool = (name: string) => () => tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name });
  const dense = (units: number, activation: 'relu' | 'sigmoid', name: string) => (seed: number) =>
    tf.layers.dense({ units, activation, kernelInitializer: tf.initializers.glorotUniform({ seed }), name });
  const dropout = (name: string) => () => tf.layers.dropout({ rate: 0.5, name });
  return [
    conv(96, 11, 4, 'valid', 'conv1'),
    bn('bn1'),
    pool('pool1'),
    conv(256, 11, 1, 'same', 'conv2'),
    bn('bn2'),
    conv(384, 3, 1, 'same', 'conv3'),
    bn('bn3'),
    conv(384, 3, 1, 'same', 'conv4'),
    bn('bn4'),
    conv(256, 3, 1, 'same', 'conv5'),
    bn('bn5'),
    pool('pool5'),
    () => tf.layers.flatten({ name: 'flatten' }),
    dense(4096, 'relu', 'fc6'),
    dropout('drop6'),
    dense(4096, 'relu', 'fc7'),
    dropout('drop7'),
    dense(1, 'sigmoid', 'prob'),
  ];
}

/**
 * Depthwise-separable stages of a separable net: [output channels, stride, depthwise kernel size, and for the deep
 * net's added blocks the block they repeat]. A repeat is named after that block (block1r), so the blocks of a
 * shallower net keep their names.
 */
type Block = [filters: number, strides: number, kernel: number, repeats?: number];
/** A separable net: its stem's channels and stride, then its blocks. */
interface Net {
  stem: [filters: number, strides: number];
  blocks: ReadonlyArray<Block>;
}

const COMPACT: Net = {
  stem: [32, 2],
  blocks: [
    [64, 1, 3],
    [128, 2, 3],
    [128, 1, 3],
    [256, 2, 3],
    [256, 1, 3],
    [384, 2, 3],
  ],
};

/**
 * The wide net: compact with 1.375× its channels (446,601 weights, about 34M multiply-adds per image), as wide as
 * issue 15's 500 KB allows once exported as uint8.
 */
const WIDE: Net = {
  stem: [48, 2],
  blocks: COMPACT.blocks.map(([filters, strides, kernel]) => [filters * 1.375, strides, kernel]),
};

/**
 * The wider net: compact with 1.9375× its channels, √2 times the wide net's (871,845 weights, 1.95× the wide net's,
 * about twice its work; 839 KiB exported as uint8, over issue 15's 500 KB). Not for shipping: it measures what
 * twice the weights would buy on these faces (docs/experiments.md §41).
 */
const WIDER: Net = {
  stem: [62, 2],
  blocks: COMPACT.blocks.map(([filters, strides, kernel]) => [filters * 1.9375, strides, kernel]),
};

/**
 * wide8: the wide net with its last block at stride 1, so that its features are pooled from 8×8 places rather than
 * 4×4. The same weights (a wide model runs as wide8 unchanged) for 1.27× the multiply-adds: each feature is looked at
 * four times as densely, as if the face were shifted by half a step of the last block and the results averaged.
 */
const WIDE8: Net = {
  ...WIDE,
  blocks: WIDE.blocks.map(([filters, strides, kernel], i, all) => [
    filters,
    i === all.length - 1 ? 1 : strides,
    kernel,
  ]),
};

/**
 * wide64: the wide net with its stem at stride 1, so that the first layer's features are computed at every pixel of
 * the 64×64 face rather than at every other one, and its first block's depthwise filter 5×5 at stride 2 in place of
 * 3×3 at stride 1 (447,369 weights, 1.14× the multiply-adds). That filter spans the same 5×5 stem positions as the
 * wide net's, all 25 of them instead of 9 spaced two apart: a wide model's 3×3 taps placed two apart in it, the rest
 * zero, give the wide net's outputs (`dilateModel`), and training can then use the detail between them.
 */
const WIDE64: Net = {
  stem: [WIDE.stem[0], 1],
  blocks: WIDE.blocks.map((block, i) => (i === 0 ? [block[0], 2, 5] : block)),
};

/**
 * The deep net: the wide net with its first 32×32 block and its first 16×16 block each repeated at stride 1
 * (489,809 weights, about 1.5× the wide net's multiply-adds, 480 KB exported as uint8: as deep as issue 15's 500 KB
 * allows). The repeats are where weights are cheap: a 1×1 convolution's weights grow with channels squared, its work
 * with channels squared times places, so the 8×8 and 4×4 blocks hold most of the weights and the early ones most of
 * the work. Fine-tuned from a wide export, each repeat starts as an identity (`STARTS_FROM`). `DEEP_REPEATS` numbers
 * the repeated blocks as their names do (block1, block3).
 */
const DEEP_REPEATS: ReadonlySet<number> = new Set([1, 3]);
const DEEP: Net = {
  ...WIDE,
  blocks: WIDE.blocks.flatMap((block, i): Block[] =>
    DEEP_REPEATS.has(i + 1) ? [block, [block[0], 1, block[2], i + 1]] : [block],
  ),
};

const NETS: Record<Exclude<Arch, 'seed'>, Net> = {
  compact: COMPACT,
  wide: WIDE,
  wider: WIDER,
  wide8: WIDE8,
  wide64: WIDE64,
  deep: DEEP,
};

/**
 * A MobileNet-style net for 64×64 faces: a 3×3 stem (stride 2; wide64's 1), then depthwise-separable blocks (conv →
 * BN → ReLU for both the depthwise 3×3, wide64's first 5×5, and the pointwise 1×1; convs carry no bias since BN
 * follows), global average pooling, dropout, and a sigmoid unit. Compact ends at 4×4×384: 240,705 weights (236,481
 * trainable), ~18M multiply-adds per image.
 */
function compactLayers(momentum: number, { stem: [stem, stemStrides], blocks }: Net): LayerFactory[] {
  const he = (seed: number) => tf.initializers.heNormal({ seed });
  const bnRelu = (name: string): LayerFactory[] => [
    () => new FastBatchNorm({ name: `${name}_bn`, momentum }),
    () => tf.layers.reLU({ name: `${name}_relu` }),
  ];
  const out: LayerFactory[] = [
    (seed) =>
      new LeanConv2D({
        filters: stem,
        kernelSize: 3,
        strides: stemStrides,
        padding: 'same',
        useBias: false,
        kernelInitializer: he(seed),
        name: 'stem',
      }),
    ...bnRelu('stem'),
  ];
  let base = 0;
  blocks.forEach(([filters, strides, kernel, repeats]) => {
    const name = repeats === undefined ? `block${++base}` : `block${repeats}r`;
    out.push(
      (seed) =>
        tf.layers.depthwiseConv2d({
          kernelSize: kernel,
          strides,
          padding: 'same',
          useBias: false,
          depthwiseInitializer: he(seed),
          name: `${name}_dw`,
        }),
      ...bnRelu(`${name}_dw`),
      (seed) =>
        new LeanConv2D({ filters, kernelSize: 1, useBias: false, kernelInitializer: he(seed), name: `${name}_pw` }),
      ...bnRelu(`${name}_pw`),
    );
  });
  out.push(
    () => tf.layers.globalAveragePooling2d({ name: 'gap' }),
    () => tf.layers.dropout({ rate: 0.2, name: 'dropout' }),
    (seed) =>
      tf.layers.dense({
        units: 1,
        activation: 'sigmoid',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        name: 'prob',
      }),
  );
  return out;
}

/**
 * A training-only twin of a separable net with one auxiliary softmax head per labels.csv column (race, age…), each a
 * dense layer on the pooled features beside the gender unit: its outputs are [p(male), logits of each head]. The
 * twin shares `model`'s layers, so training it trains `model`, which stays the one that is saved and exported.
 * `heads` gives each head's name and class count, and optionally the kernel and bias a resumed run saved.
 */
export function withAuxHeads(
  model: tf.LayersModel,
  heads: ReadonlyArray<{ name: string; classes: number; kernel?: Float32Array; bias?: Float32Array }>,
  seed = 1,
): tf.LayersModel {
  const features = model.getLayer('gap').output as tf.SymbolicTensor;
  const outputs = heads.map(({ name, classes, kernel, bias }, i) => {
    const dense = tf.layers.dense({
      units: classes,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 900 + i }),
      name: `aux_${name}`,
    });
    const logits = dense.apply(features) as tf.SymbolicTensor;
    if (kernel && bias) {
      const values = [tfc.tensor2d(kernel, [kernel.length / classes, classes]), tfc.tensor1d(bias)];
      dense.setWeights(values);
      tfc.dispose(values);
    }
    return logits;
  });
  return tf.model({ inputs: model.inputs, outputs: [model.outputs[0], ...outputs], name: `${model.name}_aux` });
}

/** Total number of weights, trainable or not (BatchNorm moving statistics included), as Keras counts them. */
export function countParams(model: tf.LayersModel): number {
  return model.countParams();
}
