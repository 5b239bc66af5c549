import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';

/*
 * Training kernels for the tfjs 4.22 wasm backend: the convolution gradients it lacks, a correct MaxPoolGrad, and
 * faster versions of the kernels a training step leans on (Sum/Mean/Tile from BatchNorm and bias gradients,
 * FusedBatchNorm, transposed BatchMatMul). Gradients are rewritten as the forward convolutions and plain matrix
 * products wasm runs through XNNPACK, calling wasm kernels directly so that nothing reaches the engine's tape or
 * tensor tracking: every intermediate is freed before the kernel returns.
 */

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs: NamedAttrMap };
type Shape4 = [number, number, number, number];
type Explicit = [[number, number], [number, number], [number, number], [number, number]];

function runWasm(backend: BackendWasm, kernel: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const config = tf.getKernel(kernel, 'wasm');
  if (!config) throw new Error(`wasm kernel ${kernel} is not registered`);
  return config.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/** Runs wasm kernels and frees every intermediate they produce, except the one handed back as the result. */
class Scope {
  private readonly owned: TensorInfo[] = [];

  constructor(private readonly backend: BackendWasm) {}

  run(kernel: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    return this.own(runWasm(this.backend, kernel, inputs, attrs));
  }

  own(t: TensorInfo): TensorInfo {
    this.owned.push(t);
    return t;
  }

  /** A view with another shape over the same data (what wasm's Reshape does, without the reference count). */
  static reshape(t: TensorInfo, shape: number[]): TensorInfo {
    return { dataId: t.dataId, shape, dtype: t.dtype };
  }

  /** Frees the intermediates and returns `result`, which must come from `run` (or be a reshape of one). */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.owned) if (t.dataId !== result.dataId) this.backend.disposeData(t.dataId);
    return result;
  }
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

function assertChannelsLast(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat === 'NCHW') throw new Error(`${kernel} on wasm supports NHWC only`);
}

/**
 * For a transposed (input-gradient) convolution along one spatial axis: the amounts to pad (positive) or crop
 * (negative) the zero-upsampled output gradient of length `upsampled` so that a stride-1 'valid' correlation with the
 * flipped filter yields `inSize` values. Derived from dx[h] = Σ_k dy[(h + padBefore − k) / stride]·w[k].
 */
function transposedPads(inSize: number, kernel: number, padBefore: number, upsampled: number): [number, number] {
  const before = kernel - 1 - padBefore;
  return [before, inSize + kernel - 1 - before - upsampled];
}

/**
 * Zero-upsamples dy [n, oh, ow, c] by the strides (each value followed by stride−1 zeros on both axes), then crops
 * wherever a pad is negative. Returns the tensor and the remaining non-negative explicit padding.
 */
function upsampleForTranspose(
  s: Scope,
  dy: TensorInfo,
  strides: [number, number],
  inShape: Shape4,
  kernel: [number, number],
  pad: { top: number; left: number },
): { u: TensorInfo; pads: Explicit } {
  const [n, oh, ow, c] = dy.shape;
  const [sh, sw] = strides;
  let u = dy;
  if (sh > 1 || sw > 1) {
    const padded = s.run(
      'PadV2',
      { x: Scope.reshape(dy, [n, oh, 1, ow, 1, c]) },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    u = Scope.reshape(padded, [n, oh * sh, ow * sw, c]);
  }
  const [top, bottom] = transposedPads(inShape[1], kernel[0], pad.top, oh * sh);
  const [left, right] = transposedPads(inShape[2], kernel[1], pad.left, ow * sw);
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const begin = [0, Math.max(0, -top), Math.max(0, -left), 0];
    const size = [n, oh * sh - begin[1] - Math.max(0, -bottom), ow * sw - begin[2] - Math.max(0, -right), c];
    u = s.run('Slice', { x: u }, { begin, size });
  }
  const pads: Explicit = [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ];
  return { u, pads };
}

/**
 * dW[kh, kw, ci, co] = Σ x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n, oh, ow, co]: a stride-1 convolution of x
 * (channels and batch swapped) with dy as the filter, dilated by the forward stride. 1×1 unstrided, unpadded convs
 * are a plain matrix product instead.
 */
/** A 1×1 conv with stride 1 and no padding: its gradients are plain matrix products. */
function isPlainPointwise(kh: number, kw: number, info: tf.backend_util.Conv2DInfo): boolean {
  const p = info.padInfo;
  return (
    kh === 1 &&
    kw === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    p.top + p.bottom + p.left + p.right === 0
  );
}

function conv2DBackpropFilter(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  assertChannelsLast('Conv2DBackpropFilter', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode);
  const [kh, kw, ci, co] = filterShape;
  const [n, h, w] = x.shape;
  const s = new Scope(backend);
  const p = info.padInfo;
  if (isPlainPointwise(kh, kw, info)) {
    const rows = n * h * w;
    const xt = s.run('Transpose', { x: Scope.reshape(x, [rows, ci]) }, { perm: [1, 0] });
    const dw = s.run('BatchMatMul', { a: Scope.reshape(xt, [1, ci, rows]), b: Scope.reshape(dy, [1, rows, co]) });
    return s.finish(Scope.reshape(dw, filterShape));
  }
  const [oh, ow] = [info.outHeight, info.outWidth];
  // The last input row/column a filter tap touches; negative slack means trailing input the forward conv never read.
  const bottom = kh + (oh - 1) * info.strideHeight - h - p.top;
  const right = kw + (ow - 1) * info.strideWidth - w - p.left;
  let xt = s.run('Transpose', { x }, { perm: [3, 1, 2, 0] });
  if (bottom < 0 || right < 0) {
    xt = s.run(
      'Slice',
      { x: xt },
      { begin: [0, 0, 0, 0], size: [ci, h + Math.min(0, bottom), w + Math.min(0, right), n] },
    );
  }
  const dyt = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const pads: Explicit = [
    [0, 0],
    [p.top, Math.max(0, bottom)],
    [p.left, Math.max(0, right)],
    [0, 0],
  ];
  const dwt = s.run(
    'Conv2D',
    { x: xt, filter: dyt },
    { strides: 1, pad: pads, dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth] },
  );
  return s.finish(s.run('Transpose', { x: dwt }, { perm: [1, 2, 0, 3] }));
}

/**
 * dx = dy (zero-upsampled by the stride) correlated with the spatially flipped filter whose in/out channels are
 * swapped. Unstrided 1×1 convs are a matrix product.
 */
function conv2DBackpropInput(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
  assertChannelsLast('Conv2DBackpropInput', dataFormat);
  const [kh, kw, ci, co] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as Shape4, strides, 1, pad, dimRoundingMode);
  const s = new Scope(backend);
  const p = info.padInfo;
  if (isPlainPointwise(kh, kw, info)) {
    const rows = inputShape[0] * inputShape[1] * inputShape[2];
    const wt = s.run('Transpose', { x: Scope.reshape(filter, [ci, co]) }, { perm: [1, 0] });
    const dx = s.run('BatchMatMul', { a: Scope.reshape(dy, [1, rows, co]), b: Scope.reshape(wt, [1, co, ci]) });
    return s.finish(Scope.reshape(dx, inputShape));
  }
  const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = s.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
  const { u, pads } = upsampleForTranspose(s, dy, [info.strideHeight, info.strideWidth], inputShape, [kh, kw], p);
  return s.finish(
    s.run('Conv2D', { x: u, filter: swapped }, { strides: 1, pad: pads, dataFormat: 'NHWC', dilations: 1 }),
  );
}

function assertUndilated(kernel: string, dilations: number | [number, number]): void {
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) throw new Error(`${kernel}: dilations > 1 are not supported`);
}

/**
 * dW[kh, kw, c, m] = Σ_n,oh,ow x[n, oh·s + kh − pad, ow·s + kw − pad, c] · dy[n, oh, ow, c·M + m]: one depthwise
 * convolution over x laid out as a single image with batch×channels channels, dy as the (stride-dilated) filter,
 * then a sum over the batch.
 */
function depthwiseBackpropFilter(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    args.attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  assertUndilated('DepthwiseConv2dNativeBackpropFilter', dilations);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
  const [kh, kw, c, m] = filterShape;
  const [n, h, w] = x.shape;
  const [oh, ow] = [info.outHeight, info.outWidth];
  const p = info.padInfo;
  const s = new Scope(backend);
  const bottom = kh + (oh - 1) * info.strideHeight - h - p.top;
  const right = kw + (ow - 1) * info.strideWidth - w - p.left;
  let xt = s.run('Transpose', { x }, { perm: [1, 2, 0, 3] });
  if (bottom < 0 || right < 0) {
    xt = s.run(
      'Slice',
      { x: xt },
      { begin: [0, 0, 0, 0], size: [h + Math.min(0, bottom), w + Math.min(0, right), n, c] },
    );
  }
  const dyt = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const perImage = s.run(
    'DepthwiseConv2dNative',
    { x: Scope.reshape(xt, [1, xt.shape[0], xt.shape[1], n * c]), filter: Scope.reshape(dyt, [oh, ow, n * c, m]) },
    {
      strides: 1,
      pad: [
        [0, 0],
        [p.top, Math.max(0, bottom)],
        [p.left, Math.max(0, right)],
        [0, 0],
      ],
      dilations: [info.strideHeight, info.strideWidth],
    },
  );
  const dw = s.run('Sum', { x: Scope.reshape(perImage, [kh * kw, n, c * m]) }, { axis: 1, keepDims: false });
  return s.finish(Scope.reshape(dw, filterShape));
}

/**
 * dx = dy (zero-upsampled by the stride) depthwise-correlated with the flipped filter, taken as a multiplier-1 filter
 * over all c·M channels, then summed over the multiplier.
 */
function depthwiseBackpropInput(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    args.attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  assertUndilated('DepthwiseConv2dNativeBackpropInput', dilations);
  const [kh, kw, c, m] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
  const s = new Scope(backend);
  const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
  const { u, pads } = upsampleForTranspose(
    s,
    dy,
    [info.strideHeight, info.strideWidth],
    inputShape,
    [kh, kw],
    info.padInfo,
  );
  const dx = s.run(
    'DepthwiseConv2dNative',
    { x: u, filter: Scope.reshape(flipped, [kh, kw, c * m, 1]) },
    { strides: 1, pad: pads, dilations: 1 },
  );
  if (m === 1) return s.finish(dx);
  const [n, h, w] = inputShape;
  return s.finish(s.run('Sum', { x: Scope.reshape(dx, [n, h, w, c, m]) }, { axis: 4, keepDims: false }));
}

/**
 * Routes each output gradient to the first maximum of its window (row-major, as the cpu backend does). The running
 * maximum starts at −∞; upstream wasm starts it at the smallest positive float, losing all-negative windows.
 */
function maxPoolGrad(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  // Allocate before taking heap views: allocation may grow (and detach) the wasm memory.
  const out = backend.makeOutput(input.shape, 'float32');
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  const xv = backend.typedArrayFromHeap(input) as Float32Array;
  const dyv = backend.typedArrayFromHeap(dy) as Float32Array;
  dx.fill(0);
  const best = new Float32Array(ch);
  const arg = new Int32Array(ch);
  for (let b = 0; b < batchSize; b++) {
    const xBase = b * inHeight * inWidth * ch;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        best.fill(-Infinity);
        arg.fill(-1);
        for (let fy = Math.max(0, -y0); fy < filterHeight && y0 + fy < inHeight; fy++) {
          for (let fx = Math.max(0, -x0); fx < filterWidth && x0 + fx < inWidth; fx++) {
            const at = xBase + ((y0 + fy) * inWidth + x0 + fx) * ch;
            for (let c = 0; c < ch; c++) {
              const v = xv[at + c];
              if (v > best[c]) {
                best[c] = v;
                arg[c] = at + c;
              }
            }
          }
        }
        const dyAt = ((b * outHeight + oy) * outWidth + ox) * ch;
        for (let c = 0; c < ch; c++) if (arg[c] >= 0) dx[arg[c]] += dyv[dyAt + c];
      }
    }
  }
  return out;
}

/*
 * Reduction and layout kernels in JS over the wasm heap. wasm's leading-axis Sum/Mean (which first transposes the
 * reduced axes innermost) and Tile take several times longer than one JS pass, and BatchNorm's gradient runs them on
 * every activation.
 */

/** The stock wasm kernels the replacements fall back to outside their fast paths. */
const stock = new Map<string, KernelFunc>();

function fallback(kernel: string, args: KernelArgs): TensorInfo {
  const f = stock.get(kernel);
  if (!f) throw new Error(`no stock wasm ${kernel} kernel to fall back to`);
  return f(args as Parameters<KernelFunc>[0]) as TensorInfo;
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Sum or Mean over leading axes (as BatchNorm and bias gradients reduce NHWC over N, H, W), in float64. */
function reduceLeading(kernel: 'Sum' | 'Mean') {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const k = axes.length;
    if (x.dtype !== 'float32' || k === 0 || axes[k - 1] !== k - 1 || tf.util.sizeFromShape(x.shape) === 0) {
      return fallback(kernel, args);
    }
    const outer = product(x.shape.slice(0, k));
    const inner = product(x.shape.slice(k));
    const out = backend.makeOutput(keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k), 'float32');
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    const src = backend.typedArrayFromHeap(x) as Float32Array;
    const acc = new Float64Array(inner);
    let r = 0;
    // Four rows per accumulator update: the loop is bound by loads and stores of `acc`, not by additions.
    for (; r + 4 <= outer; r += 4) {
      const a = r * inner;
      const b = a + inner;
      const c2 = b + inner;
      const d = c2 + inner;
      for (let c = 0; c < inner; c++) acc[c] += src[a + c] + src[b + c] + (src[c2 + c] + src[d + c]);
    }
    for (; r < outer; r++) {
      const at = r * inner;
      for (let c = 0; c < inner; c++) acc[c] += src[at + c];
    }
    const scale = kernel === 'Mean' ? 1 / outer : 1;
    for (let c = 0; c < inner; c++) dst[c] = acc[c] * scale;
    return out;
  };
}

/** Tiling that only repeats the whole tensor (size-1 leading dims repeated, the rest not) is a chain of copies. */
function tile(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs as { x: TensorInfo };
  const { reps } = args.attrs as { reps: number[] };
  let k = 0;
  while (k < x.shape.length && x.shape[k] === 1) k++;
  if (x.dtype === 'string' || reps.slice(k).some((r) => r !== 1)) return fallback('Tile', args);
  const out = backend.makeOutput(
    x.shape.map((d, i) => d * reps[i]),
    x.dtype,
  );
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(x);
  dst.set(src);
  for (let filled = src.length; filled < dst.length; filled *= 2) {
    dst.copyWithin(filled, 0, Math.min(filled, dst.length - filled));
  }
  return out;
}

/**
 * BatchMatMul with a transposed operand (how every matmul gradient is phrased) runs a scalar loop on wasm, 5–10×
 * slower than the plain product through XNNPACK; transposing the operand first is far cheaper.
 */
function batchMatMul(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
  if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32')
    return fallback('BatchMatMul', args);
  const s = new Scope(backend);
  const transposed = (t: TensorInfo): TensorInfo => {
    const rank = t.shape.length;
    return s.run('Transpose', { x: t }, { perm: [...Array(rank - 2).keys(), rank - 1, rank - 2] });
  };
  const inputs = { a: transposeA ? transposed(a) : a, b: transposeB ? transposed(b) : b };
  const attrs = { ...args.attrs, transposeA: false, transposeB: false };
  return s.finish(s.own(fallback('BatchMatMul', { inputs, backend, attrs })));
}

/**
 * FusedBatchNorm as a per-channel affine map: the [C] coefficients in JS, then wasm's broadcasting Multiply and Add
 * (XNNPACK), about 4× faster than the stock kernel's scalar loop. Other parameter layouts take the stock kernel.
 */
function batchNorm(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined> & {
    x: TensorInfo;
    mean: TensorInfo;
    variance: TensorInfo;
  };
  const { varianceEpsilon } = args.attrs as { varianceEpsilon: number };
  const channels = x.shape[x.shape.length - 1];
  const perChannel = (t: TensorInfo | undefined) =>
    t === undefined || (t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels);
  if (x.dtype !== 'float32' || ![mean, variance, offset, scale].every(perChannel))
    return fallback('FusedBatchNorm', args);
  const s = new Scope(backend);
  const k = s.own(backend.makeOutput([channels], 'float32'));
  const b = s.own(backend.makeOutput([channels], 'float32'));
  const read = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const [kv, bv, mv, vv] = [k, b, mean, variance].map(read);
  const ov = offset && read(offset);
  const sv = scale && read(scale);
  for (let c = 0; c < channels; c++) {
    kv[c] = (sv ? sv[c] : 1) / Math.sqrt(vv[c] + varianceEpsilon);
    bv[c] = (ov ? ov[c] : 0) - mv[c] * kv[c];
  }
  const scaled = s.run('Multiply', { a: x, b: k });
  return s.finish(s.run('Add', { a: scaled, b }));
}

const kernels: Array<{ kernelName: string; kernelFunc: (args: KernelArgs) => TensorInfo }> = [
  { kernelName: tf.Conv2DBackpropFilter, kernelFunc: conv2DBackpropFilter },
  { kernelName: tf.Conv2DBackpropInput, kernelFunc: conv2DBackpropInput },
  { kernelName: tf.DepthwiseConv2dNativeBackpropFilter, kernelFunc: depthwiseBackpropFilter },
  { kernelName: tf.DepthwiseConv2dNativeBackpropInput, kernelFunc: depthwiseBackpropInput },
  { kernelName: tf.MaxPoolGrad, kernelFunc: maxPoolGrad },
  { kernelName: tf.Sum, kernelFunc: reduceLeading('Sum') },
  { kernelName: tf.Mean, kernelFunc: reduceLeading('Mean') },
  { kernelName: tf.Tile, kernelFunc: tile },
  { kernelName: tf.FusedBatchNorm, kernelFunc: batchNorm },
  { kernelName: tf.BatchMatMul, kernelFunc: batchMatMul },
];

/** Registers the training kernels on 'wasm', replacing upstream ones. Idempotent; call before or after init. */
export function registerWasmTrainingKernels(): void {
  for (const { kernelName, kernelFunc } of kernels) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current?.kernelFunc === kernelFunc) continue;
    if (current) {
      stock.set(kernelName, current.kernelFunc);
      tf.unregisterKernel(kernelName, 'wasm');
    }
    // The stock setup (binding the wasm export) still runs at backend init, for the fallbacks.
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: kernelFunc as KernelFunc,
      setupFunc: current?.setupFunc,
    });
  }
}
