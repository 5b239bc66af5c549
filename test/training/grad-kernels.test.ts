import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { buildModel, withAuxHeads, type Arch } from '../../training/lib/model/models';
import { createTrainer } from '../../training/lib/fit/trainer';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** Runs `f` on wasm and on the stock cpu backend; inputs must come from seeded generators, which are backend-independent. */
function onBoth(f: () => tf.Tensor): { wasm: Float32Array; cpu: Float32Array } {
  tf.setBackend('wasm');
  const wasm = tf.tidy(() => f().dataSync() as Float32Array);
  tf.setBackend('cpu');
  const cpu = tf.tidy(() => f().dataSync() as Float32Array);
  tf.setBackend('wasm');
  return { wasm, cpu };
}

/** max |wasm − cpu| / max |cpu|. */
function maxRelError({ wasm, cpu }: { wasm: Float32Array; cpu: Float32Array }): number {
  expect(wasm.length).toBe(cpu.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < cpu.length; i++) {
    diff = Math.max(diff, Math.abs(wasm[i] - cpu[i]));
    scale = Math.max(scale, Math.abs(cpu[i]));
  }
  return diff / scale;
}

const randn = (shape: number[], seed: number, mean = 0) => tf.randomNormal(shape, mean, 1, 'float32', seed);
const run = (kernel: string, inputs: tf.NamedTensorMap, attrs: object) =>
  tf.engine().runKernel(kernel, inputs, attrs as NamedAttrMap) as tf.Tensor;

/** Output spatial size of a conv/pool along one axis. */
function outSize(size: number, k: number, s: number, pad: Pad, axis: 1 | 2): number {
  if (pad === 'same') return Math.ceil(size / s);
  const [before, after] = pad === 'valid' ? [0, 0] : pad[axis];
  return Math.floor((size + before + after - k) / s) + 1;
}

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  k: number;
  s: number;
  pad: Pad;
  out: number;
}

const explicit: Pad = [
  [0, 0],
  [1, 2],
  [2, 0],
  [0, 0],
];

const convCases: ConvCase[] = [
  { name: '3×3 s1 same', x: [2, 9, 9, 5], k: 3, s: 1, pad: 'same', out: 7 },
  { name: '3×3 s2 same, odd', x: [2, 9, 9, 5], k: 3, s: 2, pad: 'same', out: 6 },
  { name: '3×3 s2 same, even', x: [2, 10, 8, 4], k: 3, s: 2, pad: 'same', out: 3 },
  { name: '3×3 s2 valid, odd', x: [2, 11, 11, 3], k: 3, s: 2, pad: 'valid', out: 4 },
  { name: '3×3 s2 valid, unread tail', x: [2, 10, 10, 3], k: 3, s: 2, pad: 'valid', out: 4 },
  { name: '1×1 s1 valid', x: [3, 7, 5, 6], k: 1, s: 1, pad: 'valid', out: 8 },
  { name: '1×1 s2 same', x: [2, 7, 7, 6], k: 1, s: 2, pad: 'same', out: 5 },
  { name: '4×4 s2 same', x: [2, 13, 13, 3], k: 4, s: 2, pad: 'same', out: 5 },
  { name: '11×11 s4 valid (seed conv1)', x: [2, 64, 64, 3], k: 11, s: 4, pad: 'valid', out: 8 },
  { name: '11×11 s1 same (seed conv2)', x: [2, 7, 7, 6], k: 11, s: 1, pad: 'same', out: 5 },
  { name: '3×3 s2 explicit pads', x: [2, 9, 10, 3], k: 3, s: 2, pad: explicit, out: 4 },
  // The filter gradient takes dy by chunks of output rows; these cut it into several, ending mid-image.
  { name: '1×1 s1 valid, several chunks', x: [3, 64, 64, 2], k: 1, s: 1, pad: 'valid', out: 40 },
  { name: '3×3 s2 same, several chunks (compact stem)', x: [2, 64, 64, 3], k: 3, s: 2, pad: 'same', out: 96 },
  // Patches wider than the im2col path takes: the dilated Conv2D.
  { name: '3×3 s2 same, wide patches', x: [2, 6, 6, 520], k: 3, s: 2, pad: 'same', out: 3 },
];

const TOL = 1e-4;

beforeAll(async () => {
  expect(await initTrainingBackend('wasm')).toBe('wasm');
});

describe('Conv2D gradient kernels on wasm match cpu', () => {
  for (const c of convCases) {
    const [n, h, w, ci] = c.x;
    const dyShape = [n, outSize(h, c.k, c.s, c.pad, 1), outSize(w, c.k, c.s, c.pad, 2), c.out];
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };

    it(`Conv2DBackpropFilter ${c.name}`, () => {
      const filterShape = [c.k, c.k, ci, c.out];
      const err = maxRelError(
        onBoth(() =>
          run('Conv2DBackpropFilter', { x: randn(c.x, 1), dy: randn(dyShape, 2) }, { ...attrs, filterShape }),
        ),
      );
      expect(err).toBeLessThan(TOL);
    });

    it(`Conv2DBackpropInput ${c.name}`, () => {
      const filter = () => randn([c.k, c.k, ci, c.out], 3);
      const err = maxRelError(
        onBoth(() =>
          run('Conv2DBackpropInput', { dy: randn(dyShape, 2), filter: filter() }, { ...attrs, inputShape: c.x }),
        ),
      );
      expect(err).toBeLessThan(TOL);
    });
  }
});

describe('depthwise gradient kernels on wasm match cpu', () => {
  const cases: Array<Omit<ConvCase, 'out'> & { mult: number }> = [
    { name: '3×3 s1 same', x: [2, 9, 9, 4], k: 3, s: 1, pad: 'same', mult: 1 },
    { name: '3×3 s2 same, odd, multiplier 2', x: [2, 9, 9, 3], k: 3, s: 2, pad: 'same', mult: 2 },
    { name: '3×3 s2 same, even', x: [3, 8, 10, 5], k: 3, s: 2, pad: 'same', mult: 1 },
    { name: '3×3 s2 valid, unread tail, multiplier 3', x: [2, 10, 11, 2], k: 3, s: 2, pad: 'valid', mult: 3 },
    { name: '5×5 s1 valid', x: [2, 9, 9, 4], k: 5, s: 1, pad: 'valid', mult: 1 },
    { name: '3×3 s2 explicit pads, multiplier 2', x: [2, 9, 10, 3], k: 3, s: 2, pad: explicit, mult: 2 },
    { name: '5×5 s3 same (nine stride phases)', x: [2, 11, 13, 3], k: 5, s: 3, pad: 'same', mult: 1 },
    { name: '3×3 s1 same, compact-sized', x: [4, 32, 32, 16], k: 3, s: 1, pad: 'same', mult: 1 },
  ];
  for (const c of cases) {
    const [n, h, w, ch] = c.x;
    const dyShape = [n, outSize(h, c.k, c.s, c.pad, 1), outSize(w, c.k, c.s, c.pad, 2), ch * c.mult];
    const attrs = { strides: c.s, dilations: 1, pad: c.pad, dimRoundingMode: undefined };

    it(`DepthwiseConv2dNativeBackpropFilter ${c.name}`, () => {
      const filterShape = [c.k, c.k, ch, c.mult];
      const err = maxRelError(
        onBoth(() =>
          run(
            'DepthwiseConv2dNativeBackpropFilter',
            { x: randn(c.x, 1), dy: randn(dyShape, 2) },
            { ...attrs, filterShape },
          ),
        ),
      );
      expect(err).toBeLessThan(TOL);
    });

    it(`DepthwiseConv2dNativeBackpropInput ${c.name}`, () => {
      const filter = () => randn([c.k, c.k, ch, c.mult], 3);
      const err = maxRelError(
        onBoth(() =>
          run(
            'DepthwiseConv2dNativeBackpropInput',
            { dy: randn(dyShape, 2), filter: filter() },
            { ...attrs, inputShape: c.x },
          ),
        ),
      );
      expect(err).toBeLessThan(TOL);
    });
  }
});

describe('MaxPoolGrad on wasm matches cpu', () => {
  const cases: Array<{ name: string; x: number[]; k: number; s: number; pad: 'same' | 'valid'; mean: number }> = [
    { name: '2×2 s2 valid, all-negative windows, odd size', x: [2, 9, 9, 3], k: 2, s: 2, pad: 'valid', mean: -5 },
    { name: '2×2 s2 valid, mixed signs', x: [2, 8, 8, 4], k: 2, s: 2, pad: 'valid', mean: 0 },
    { name: '3×3 s2 same, all-negative windows', x: [2, 7, 8, 3], k: 3, s: 2, pad: 'same', mean: -5 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const err = maxRelError(
        onBoth(() => {
          const x = randn(c.x, 4, c.mean) as tf.Tensor4D;
          const y = tf.maxPool(x, c.k, c.s, c.pad);
          const attrs = { filterSize: c.k, strides: c.s, pad: c.pad, dimRoundingMode: undefined };
          return run('MaxPoolGrad', { dy: randn(y.shape, 5), input: x, output: y }, attrs);
        }),
      );
      expect(err).toBeLessThan(TOL);
    });
  }
});

describe('layout and reduction kernels on wasm match cpu', () => {
  it('Sum and Mean over leading axes, with and without keepDims', () => {
    const cases: Array<[number | number[], boolean]> = [
      [[0, 1, 2], false],
      [[2, 0, 1], true],
      [0, false],
    ];
    for (const [axis, keepDims] of cases) {
      expect(maxRelError(onBoth(() => tf.sum(randn([5, 7, 3, 6], 6), axis, keepDims)))).toBeLessThan(TOL);
      expect(maxRelError(onBoth(() => tf.mean(randn([5, 7, 3, 6], 6), axis, keepDims)))).toBeLessThan(TOL);
    }
  });

  it('Sum and Mean over the pixels of a batch of images', () => {
    expect(maxRelError(onBoth(() => tf.sum(randn([4, 32, 32, 8], 6, 0.5), [0, 1, 2])))).toBeLessThan(TOL);
    expect(maxRelError(onBoth(() => tf.mean(randn([4, 32, 32, 8], 6, 0.5), [0, 1, 2])))).toBeLessThan(TOL);
  });

  it('Sum and Mean over other axes (stock path)', () => {
    expect(maxRelError(onBoth(() => tf.sum(randn([5, 7, 3, 6], 6), [1, 3])))).toBeLessThan(TOL);
    expect(maxRelError(onBoth(() => tf.mean(randn([5, 7, 3, 6], 6), -1, true)))).toBeLessThan(TOL);
  });

  it('FusedBatchNorm with per-channel parameters, with and without scale/offset, on 2-D x, and 4-D ones (stock path)', () => {
    const x = () => randn([3, 5, 4, 6], 9);
    const v = () => tf.add(tf.square(randn([6], 10)), 0.1);
    expect(
      maxRelError(onBoth(() => tf.batchNorm(x(), randn([6], 11), v(), randn([6], 12), randn([6], 13), 1e-3))),
    ).toBeLessThan(TOL);
    expect(maxRelError(onBoth(() => tf.batchNorm(x(), randn([6], 11), v())))).toBeLessThan(TOL);
    expect(
      maxRelError(onBoth(() => tf.batchNorm(randn([12, 6], 9), randn([6], 11), v(), randn([6], 12), randn([6], 13)))),
    ).toBeLessThan(TOL);
    const v4 = () => tf.reshape(v(), [1, 1, 1, 6]);
    expect(maxRelError(onBoth(() => tf.batchNorm(x(), tf.reshape(randn([6], 11), [1, 1, 1, 6]), v4())))).toBeLessThan(
      TOL,
    );
  });

  it('BatchMatMul with transposed operands, single and batched', () => {
    for (const batch of [[], [3]]) {
      for (const [ta, tb] of [
        [true, false],
        [false, true],
        [true, true],
      ]) {
        const a = () => randn([...batch, ...(ta ? [7, 5] : [5, 7])], 14);
        const b = () => randn([...batch, ...(tb ? [6, 7] : [7, 6])], 15);
        expect(maxRelError(onBoth(() => tf.matMul(a(), b(), ta, tb)))).toBeLessThan(TOL);
      }
    }
  });

  it('Identity (clone) and a same-dtype Cast share the buffer, which outlives the original', () => {
    for (const copyOf of [tf.clone, (t: tf.Tensor) => tf.cast(t, 'float32')]) {
      const x = randn([3, 4], 16);
      const copy = copyOf(x);
      const expected = x.dataSync().slice();
      x.dispose();
      expect(copy.dataSync()).toEqual(expected);
      copy.dispose();
    }
  });

  it('Cast to another dtype (stock path)', () => {
    const x = randn([3, 4], 16);
    const ints = tf.cast(x, 'int32');
    expect(ints.dtype).toBe('int32');
    expect(ints.dataSync()).toEqual(Int32Array.from(x.dataSync(), Math.trunc));
    tf.dispose([x, ints]);
  });

  it('Tile of a broadcast row, and a general tile (stock path)', () => {
    expect(maxRelError(onBoth(() => tf.tile(randn([1, 1, 1, 5], 7), [3, 4, 2, 1])))).toBeLessThan(TOL);
    expect(maxRelError(onBoth(() => tf.tile(randn([2, 3], 7), [2, 3])))).toBeLessThan(TOL);
  });
});

describe('training kernels free what they allocate', () => {
  it('leaves tensor and wasm buffer counts unchanged', () => {
    const x = randn([2, 9, 9, 4], 1) as tf.Tensor4D;
    const dy = randn([2, 5, 5, 8], 2);
    const dyPointwise = randn([2, 9, 9, 8], 2);
    const xWide = randn([1, 3, 3, 520], 1);
    const dyWide = randn([1, 2, 2, 3], 2);
    const xChunked = randn([2, 64, 64, 3], 1);
    const dyChunked = randn([2, 32, 32, 96], 2);
    const dyDw = randn([2, 5, 5, 4], 2);
    const filter = randn([3, 3, 4, 8], 3);
    const dwFilter = randn([3, 3, 4, 1], 3);
    const pooled = tf.maxPool(x, 2, 2, 'valid');
    const zeros4 = tf.zeros([4]);
    const ones4 = tf.ones([4]);
    const conv = { strides: 2, pad: 'same', dataFormat: 'NHWC' };
    const dw = { strides: 2, pad: 'same', dilations: 1 };
    const calls: Array<() => tf.Tensor> = [
      () => run('Conv2DBackpropFilter', { x, dy }, { ...conv, filterShape: [3, 3, 4, 8] }),
      () => run('Conv2DBackpropInput', { dy, filter }, { ...conv, inputShape: x.shape }),
      () => run('Conv2DBackpropFilter', { x, dy: dyPointwise }, { ...conv, strides: 1, filterShape: [1, 1, 4, 8] }),
      () => run('Conv2DBackpropFilter', { x: xWide, dy: dyWide }, { ...conv, filterShape: [3, 3, 520, 3] }),
      () => run('Conv2DBackpropFilter', { x: xChunked, dy: dyChunked }, { ...conv, filterShape: [3, 3, 3, 96] }),
      () => run('DepthwiseConv2dNativeBackpropFilter', { x, dy: dyDw }, { ...dw, filterShape: [3, 3, 4, 1] }),
      () => run('DepthwiseConv2dNativeBackpropInput', { dy: dyDw, filter: dwFilter }, { ...dw, inputShape: x.shape }),
      () => run('MaxPoolGrad', { dy: pooled, input: x, output: pooled }, { filterSize: 2, strides: 2, pad: 'valid' }),
      () => tf.sum(x, [0, 1, 2]),
      () => tf.clone(x),
      () => tf.cast(x, 'float32'),
      () => tf.tile(dwFilter, [1, 1, 1, 3]),
      () => tf.batchNorm(x, zeros4, ones4, ones4, zeros4),
      () => tf.matMul(filter, filter, true, false),
    ];
    const backend = tf.engine().backend;
    for (const call of calls) {
      const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
      call().dispose();
      expect({ tensors: tf.memory().numTensors, buffers: backend.numDataIds() }).toEqual(before);
    }
    tf.dispose([x, dy, dyPointwise, xWide, dyWide, xChunked, dyChunked, dyDw, filter, dwFilter, pooled, zeros4, ones4]);
  });
});

describe('whole-model gradients on wasm match cpu', () => {
  /** Per-variable relative L2 error of the gradients `grads` computes on wasm against cpu, worst variable. */
  function worstError(grads: () => Float32Array[]): number {
    tf.setBackend('wasm');
    const wasm = grads();
    tf.setBackend('cpu');
    const cpu = grads();
    tf.setBackend('wasm');
    let worst = 0;
    cpu.forEach((c, i) => {
      let num = 0;
      let den = 0;
      for (let j = 0; j < c.length; j++) {
        num += (wasm[i][j] - c[j]) ** 2;
        den += c[j] ** 2;
      }
      if (den > 0) worst = Math.max(worst, Math.sqrt(num / den));
    });
    return worst;
  }

  /** A seeded dropout mask is drawn identically on both backends (it is left unseeded for real training). */
  function seedDropout(model: LayersModel): void {
    for (const layer of model.layers) if (layer.getClassName() === 'Dropout') Object.assign(layer, { seed: 11 });
  }

  const images = (batch: number, inputSize: number) => ({
    x: tf.randomUniform([batch, inputSize, inputSize, 3], 0, 255, 'float32', 8) as tf.Tensor4D,
    y: tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 2)),
  });

  /** The training-mode loss gradient of each variable, worst variable. */
  function worstGradError(arch: Arch, inputSize: number, batch: number): number {
    const model = buildModel(arch, { inputSize, seed: 3 });
    seedDropout(model);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const error = worstError(() =>
      tf.tidy(() => {
        const { x, y } = images(batch, inputSize);
        const { grads: g } = tf.variableGrads(() => {
          const p = tf.reshape(model.apply(x, { training: true }) as tf.Tensor, [-1]);
          return tf.losses.logLoss(y, p) as tf.Scalar;
        }, variables);
        return variables.map((v) => g[v.name].dataSync() as Float32Array);
      }),
    );
    model.dispose();
    return error;
  }

  it('compact with auxiliary heads, through the trainer’s loss (their softmax cross-entropy included)', () => {
    const model = withAuxHeads(buildModel('compact', { inputSize: 32, seed: 3 }), [
      { name: 'race', classes: 7 },
      { name: 'age', classes: 4 },
    ]);
    seedDropout(model);
    const trainer = createTrainer(model, { auxWeight: 0.5, labelSmoothing: 0.1 });
    const error = worstError(() =>
      tf.tidy(() => {
        const { x, y } = images(2, 32);
        const aux = tf.tensor2d([3, -1, 6, 2], [2, 2], 'int32');
        return trainer.gradients(x, y, 2, aux).grads.map((g) => g.dataSync() as Float32Array);
      }),
    );
    model.dispose();
    expect(error).toBeLessThan(1e-4);
  });

  it('compact', () => {
    expect(worstGradError('compact', 32, 2)).toBeLessThan(1e-4);
  });

  // At 27×27 the seed net keeps every layer (conv1 → 5×5, pools → 2×2 → 1×1) at a cost the cpu backend's
  // Conv2DBackpropFilter can afford; its 64×64 first layer is covered kernel by kernel above.
  // The cpu side takes about 45 s on an idle core; allow for a busy machine.
  it('seed', { timeout: 600_000 }, () => {
    expect(worstGradError('seed', 27, 2)).toBeLessThan(1e-4);
  });
});
