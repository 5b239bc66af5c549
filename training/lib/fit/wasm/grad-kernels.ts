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
 * FusedBatchNorm, transposed BatchMatMul, Identity, Cast). Gradients are rewritten as the convolutions, matrix products,
 * elementwise products and poolings wasm runs through XNNPACK, calling wasm kernels directly so that nothing reaches
 * the engine's tape or tensor tracking: every intermediate is freed before the kernel returns.
 */

export type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs: NamedAttrMap };
export type Shape4 = [number, number, number, number];
export type Explicit = [[number, number], [number, number], [number, number], [number, number]];

function runWasm(backend: BackendWasm, kernel: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const config = tf.getKernel(kernel, 'wasm');
  if (!config) throw new Error(`wasm kernel ${kernel} is not registered`);
  return config.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

/** Runs wasm kernels and frees every intermediate they produce, except the one handed back as the result. */
export class Scope {
  private readonly owned: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  run(kernel: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    return this.own(runWasm(this.backend, kernel, inputs, attrs));
  }

  own(t: TensorInfo): TensorInfo {
    this.owned.push(t);
    return t;
  }

  /** Frees an intermediate now, to bound the memory of a loop of kernels. */
  drop(t: TensorInfo): void {
    this.owned.splice(this.owned.indexOf(t), 1);
    this.backend.disposeData(t.dataId);
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

export function assertChannelsLast(kernel: string, dataFormat: string | undefined): void {
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

/** A 1×1 conv with stride 1 and no padding: its gradients are plain matrix products. */
export function isPlainPointwise(kh: number, kw: number, info: tf.backend_util.Conv2DInfo): boolean {
  const p = info.padInfo;
  return (
    kh === 1 &&
    kw === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    p.top + p.bottom + p.left + p.right === 0
  );
}

/**
 * Floats of dy per matrix product of the filter gradient. XNNPACK packs the right-hand operand anew for every
 * product, and packs a tall one (all of dy) several times slower per float than one that stays in L2.
 */
const DY_CHUNK = 1 << 17;

/** Widest im2col row (kh·kw·ci) gathered; wider ones (the seed net's 11×11×96 conv2) ran faster as a dilated Conv2D. */
const IM2COL_MAX_ROW = 1 << 12;

/**
 * dW[i, j, ci, co] = Σ x[n, oh·s + i − pad, ow·s + j − pad, ci] · dy[n, oh, ow, co] = colsᵀ · dy, with cols the im2col
 * matrix [n·oh·ow, kh·kw·ci] (for an unstrided, unpadded 1×1 conv, x itself). It runs by chunks of output rows: colsᵀ
 * of the chunk gathered in JS, one XNNPACK product with the chunk of dy, summed into dW; 1.2-1.7× faster on compact's
 * layers than the dilated Conv2D, which packs all of dy as its filter. Convs with very wide patches are that Conv2D:
 * stride 1 over x (channels and batch swapped), dy as the filter, dilated by the stride.
 */
function conv2DBackpropFilter(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  assertChannelsLast('Conv2DBackpropFilter', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode);
  const [kh, kw, ci] = filterShape;
  const s = new Scope(backend);
  if (kh * kw * ci <= IM2COL_MAX_ROW) return s.finish(im2colFilterGradient(s, x, dy, filterShape, info));
  return s.finish(dilatedConvFilterGradient(s, x, dy, filterShape, info));
}

/** The filter gradient as one stride-1 Conv2D of x (channels and batch swapped) with dy as a filter dilated by the stride. */
export function dilatedConvFilterGradient(
  s: Scope,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: Shape4,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const [kh, kw, ci] = filterShape;
  const [n, h, w] = x.shape;
  const [oh, ow] = [info.outHeight, info.outWidth];
  const p = info.padInfo;
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
  return s.run('Transpose', { x: dwt }, { perm: [1, 2, 0, 3] });
}

function im2colFilterGradient(
  s: Scope,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: Shape4,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const backend = s.backend;
  const [kh, kw, ci, co] = filterShape;
  const [n, h, w] = x.shape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const patch = kh * kw * ci;
  const outRows = n * oh;
  const rowsPerChunk = Math.max(1, Math.floor(DY_CHUNK / (ow * co)));
  const sums = new Float64Array(patch * co);
  for (let r0 = 0; r0 < outRows; r0 += rowsPerChunk) {
    const r1 = Math.min(outRows, r0 + rowsPerChunk);
    const k = (r1 - r0) * ow;
    const colsT = s.own(backend.makeOutput([1, patch, k], 'float32'));
    // A fresh tensor per chunk: XNNPACK caches the packed operand by tensor id.
    const dyPart = s.own(backend.makeOutput([1, k, co], 'float32'));
    const xv = backend.typedArrayFromHeap(x) as Float32Array;
    const cv = backend.typedArrayFromHeap(colsT) as Float32Array;
    (backend.typedArrayFromHeap(dyPart) as Float32Array).set(
      (backend.typedArrayFromHeap(dy) as Float32Array).subarray(r0 * ow * co, r1 * ow * co),
    );
    // Taps that read padding stay zero.
    cv.fill(0);
    const img0 = Math.floor(r0 / oh);
    let to = 0;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        // Output columns whose tap (·, j) reads inside x.
        const lo = Math.min(ow, Math.max(0, Math.ceil((left - j) / sw)));
        const hi = Math.max(lo, Math.min(ow, Math.floor((w - 1 + left - j) / sw) + 1));
        // Four channels at a time: they share a cache line of x, and each fills its own row of colsT.
        for (let ch = 0; ch < ci; ch += 4) {
          const group = Math.min(4, ci - ch);
          for (let r = r0, img = img0, y = r0 - img0 * oh, at = to; r < r1; r++, at += ow) {
            const iy = y * sh + i - top;
            if (iy >= 0 && iy < h) {
              let from = ((img * h + iy) * w + lo * sw + j - left) * ci + ch;
              if (group === 4) {
                for (let q = at + lo; q < at + hi; q++, from += sw * ci) {
                  cv[q] = xv[from];
                  cv[q + k] = xv[from + 1];
                  cv[q + 2 * k] = xv[from + 2];
                  cv[q + 3 * k] = xv[from + 3];
                }
              } else {
                for (let g = 0; g < group; g++) {
                  for (let q = at + lo + g * k, f = from + g; q < at + hi + g * k; q++, f += sw * ci) cv[q] = xv[f];
                }
              }
            }
            if (++y === oh) {
              y = 0;
              img++;
            }
          }
          to += group * k;
        }
      }
    }
    const part = s.run('BatchMatMul', { a: colsT, b: dyPart });
    const pv = backend.typedArrayFromHeap(part) as Float32Array;
    for (let e = 0; e < sums.length; e++) sums[e] += pv[e];
    s.drop(colsT);
    s.drop(dyPart);
    s.drop(part);
  }
  const dw = s.own(backend.makeOutput(filterShape, 'float32'));
  (backend.typedArrayFromHeap(dw) as Float32Array).set(sums);
  return dw;
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

export function assertUndilated(kernel: string, dilations: number | [number, number]): void {
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) throw new Error(`${kernel}: dilations > 1 are not supported`);
}

/**
 * The grid on which a depthwise filter gradient becomes shifted elementwise products. x, zero-padded to
 * [n, s·gridH, s·gridW, c], splits by stride phase into s² grids of gridH×gridW cells per image (phase (a, b) holds
 * padded pixel (r·s + a, q·s + b)), and dy is zero-padded to the same cells. Tap (i, j) then pairs each dy cell with
 * the cell ⌊i/s⌋·gridW + ⌊j/s⌋ further on in phase (i mod s, j mod s), in flat order: the grid leaves room for every
 * tap of every output row within one image, and holds all of x.
 */
function strideGrid(xShape: number[], kh: number, kw: number, info: tf.backend_util.Conv2DInfo) {
  const [n, h, w] = xShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const gridH = Math.max(oh - 1 + Math.ceil(kh / sh), Math.ceil((h + top) / sh));
  const gridW = Math.max(ow - 1 + Math.ceil(kw / sw), Math.ceil((w + left) / sw));
  const cells = n * gridH * gridW;
  /** Tap (i, j)'s phase, and how many cells further on than dy it reads. */
  const tap = (i: number, j: number) => ({
    phase: (i % sh) * sw + (j % sw),
    shift: Math.floor(i / sh) * gridW + Math.floor(j / sw),
  });
  return { gridH, gridW, cells, tap };
}

/** dy [n, oh, ow, c] zero-padded at the bottom and right to the grid's cells. */
function dyOnGrid(s: Scope, dy: TensorInfo, gridH: number, gridW: number): TensorInfo {
  const [, oh, ow] = dy.shape;
  if (gridH === oh && gridW === ow) return dy;
  return s.run(
    'PadV2',
    { x: dy },
    {
      paddings: [
        [0, 0],
        [0, gridH - oh],
        [0, gridW - ow],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
}

/** A depthwise filter gradient's inputs, filter shape and geometry (undilated only). */
export function depthwiseFilterGradientArgs(args: KernelArgs) {
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
  return { x, dy, filterShape, info };
}

/**
 * dW[i, j, c, m] = Σ_n,oh,ow x[n, oh·s + i − pad, ow·s + j − pad, c] · dy[n, oh, ow, c·M + m], one filter tap at a
 * time on the stride grid: tap (i, j)'s products are one Multiply of dy with a shifted copy of x's phase, summed per
 * image by one AvgPool. A few XNNPACK passes over memory per tap, where a single depthwise conv with dy as its
 * image-sized kernel ran 2-3× slower.
 */
function depthwiseBackpropFilter(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { x, dy, filterShape, info } = depthwiseFilterGradientArgs(args);
  const [kh, kw, c, m] = filterShape;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const [n, h, w] = x.shape;
  const { gridH, gridW, cells, tap } = strideGrid(x.shape, kh, kw, info);
  const s = new Scope(backend);
  const padded = s.run(
    'PadV2',
    { x },
    {
      paddings: [
        [0, 0],
        [top, sh * gridH - h - top],
        [left, sw * gridW - w - left],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  // Channels-last phases [s², n, gridH, gridW, c].
  const phases = sh * sw === 1 ? padded : s.own(backend.makeOutput([sh * sw * cells * c], 'float32'));
  if (phases !== padded) {
    const src = backend.typedArrayFromHeap(padded) as Float32Array;
    const dst = backend.typedArrayFromHeap(phases) as Float32Array;
    // One view of the whole heap, so each pixel's channels move with a copyWithin and no allocation.
    const heap = new Float32Array(src.buffer);
    let to = dst.byteOffset / 4;
    for (let a = 0; a < sh; a++) {
      for (let b = 0; b < sw; b++) {
        for (let row = 0; row < n * gridH; row++) {
          let from = src.byteOffset / 4 + ((row * sh + a) * sw * gridW + b) * c;
          for (let q = 0; q < gridW; q++, to += c, from += sw * c) heap.copyWithin(to, from, from + c);
        }
      }
    }
  }
  const dyGrid = dyOnGrid(s, dy, gridH, gridW);
  const shifted = s.own(backend.makeOutput([cells, c, 1], 'float32'));
  const size = cells * c;
  const sums = new Float64Array(kh * kw * c * m);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const { phase, shift } = tap(i, j);
      const dst = backend.typedArrayFromHeap(shifted) as Float32Array;
      const src = backend.typedArrayFromHeap(phases) as Float32Array;
      dst.set(src.subarray(phase * size + shift * c, (phase + 1) * size));
      // Past the phase's end dy is all zeros; the products there must still be finite.
      dst.fill(0, size - shift * c);
      const products = s.run('Multiply', { a: shifted, b: Scope.reshape(dyGrid, [cells, c, m]) });
      const pooled = s.run(
        'AvgPool',
        { x: Scope.reshape(products, [n, gridH, gridW, c * m]) },
        { filterSize: [gridH, gridW], strides: [gridH, gridW], pad: 'valid' },
      );
      const means = backend.typedArrayFromHeap(pooled) as Float32Array;
      const at = (i * kw + j) * c * m;
      for (let b = 0; b < n; b++) {
        for (let k = 0; k < c * m; k++) sums[at + k] += means[b * c * m + k] * gridH * gridW;
      }
      s.drop(products);
      s.drop(pooled);
    }
  }
  const dw = s.own(backend.makeOutput(filterShape, 'float32'));
  (backend.typedArrayFromHeap(dw) as Float32Array).set(sums);
  return s.finish(dw);
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

export function fallback(kernel: string, args: KernelArgs): TensorInfo {
  const f = stock.get(kernel);
  if (!f) throw new Error(`no stock wasm ${kernel} kernel to fall back to`);
  return f(args as Parameters<KernelFunc>[0]) as TensorInfo;
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** The sum of `outer` rows of `inner` floats, in float64. */
export function sumRows(src: Float32Array, outer: number, inner: number): Float64Array {
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
  return acc;
}

/**
 * A Sum or Mean that reduces a non-empty float32 x over its first `k` axes, with the shape of its result; undefined
 * for any other reduction.
 */
export function leadingReduction(args: KernelArgs): { x: TensorInfo; k: number; outShape: number[] } | undefined {
  const { x } = args.inputs as { x: TensorInfo };
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const k = axes.length;
  if (x.dtype !== 'float32' || k === 0 || axes[k - 1] !== k - 1 || tf.util.sizeFromShape(x.shape) === 0) return;
  return { x, k, outShape: keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k) };
}

/**
 * Sum or Mean over leading axes (as BatchNorm and bias gradients reduce NHWC over N, H, W). Each slice along the first
 * axis is averaged by one XNNPACK AvgPool (float32, at most one image's pixels), several times faster than a JS pass;
 * the slices are then summed in float64.
 */
function reduceLeading(kernel: 'Sum' | 'Mean') {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const reduction = leadingReduction(args);
    if (!reduction) return fallback(kernel, args);
    const { x, k, outShape } = reduction;
    const s = new Scope(backend);
    const outer = x.shape[0];
    const pooled = product(x.shape.slice(1, k));
    const inner = product(x.shape.slice(k));
    const means =
      pooled === 1
        ? x
        : s.run(
            'AvgPool',
            { x: Scope.reshape(x, [outer, pooled, 1, inner]) },
            { filterSize: [pooled, 1], strides: [pooled, 1], pad: 'valid' },
          );
    const out = s.own(backend.makeOutput(outShape, 'float32'));
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    const src = backend.typedArrayFromHeap(means) as Float32Array;
    const acc = sumRows(src, outer, inner);
    const scale = kernel === 'Mean' ? 1 / outer : pooled;
    for (let c = 0; c < inner; c++) dst[c] = acc[c] * scale;
    return s.finish(out);
  };
}

/**
 * Identity, and Cast to x's own dtype, share x's buffer, as wasm's Reshape and the cpu backend's Identity do (kernels
 * never write to their inputs). The stock kernels copy it: hundreds of clones per training step (engine and
 * tfjs-layers), and a float32 → float32 cast of every ReLU's gradient mask.
 */
function share(kernel: 'Identity' | 'Cast') {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype = x.dtype } = (args.attrs ?? {}) as { dtype?: string };
    if (x.dtype === 'string' || dtype !== x.dtype) return fallback(kernel, args);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
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
 * FusedBatchNorm as a per-channel affine map y = k·x + b, k = scale / √(variance + ε) and b = offset − mean·k, computed
 * in JS into `s`; undefined unless x is float32 and every parameter is a [C] vector.
 */
export function batchNormAffine(
  s: Scope,
  args: KernelArgs,
): { x: TensorInfo; channels: number; k: TensorInfo; b: TensorInfo } | undefined {
  const backend = s.backend;
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined> & {
    x: TensorInfo;
    mean: TensorInfo;
    variance: TensorInfo;
  };
  const { varianceEpsilon } = args.attrs as { varianceEpsilon: number };
  const channels = x.shape[x.shape.length - 1];
  const perChannel = (t: TensorInfo | undefined) =>
    t === undefined || (t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels);
  if (x.dtype !== 'float32' || ![mean, variance, offset, scale].every(perChannel)) return undefined;
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
  return { x, channels, k, b };
}

/**
 * FusedBatchNorm as one 1×1 depthwise conv with bias (the affine map of `batchNormAffine`), which
 * XNNPACK runs as a single fused multiply-add pass (2-4× faster than a Multiply and an Add, themselves about 4× faster
 * than the stock kernel's scalar loop). Other parameter layouts take the stock kernel.
 */
function batchNorm(args: KernelArgs): TensorInfo {
  const s = new Scope(args.backend as BackendWasm);
  const affine = batchNormAffine(s, args);
  if (!affine) return fallback('FusedBatchNorm', args);
  const { x, channels, k, b } = affine;
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const y = s.run(
    'FusedDepthwiseConv2D',
    { x: Scope.reshape(x, [rows, 1, 1, channels]), filter: Scope.reshape(k, [1, 1, channels, 1]), bias: b },
    { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC', activation: 'linear' },
  );
  return s.finish(Scope.reshape(y, x.shape));
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
  { kernelName: tf.Identity, kernelFunc: share('Identity') },
  { kernelName: tf.Cast, kernelFunc: share('Cast') },
  { kernelName: tf.FusedBatchNorm, kernelFunc: batchNorm },
  { kernelName: tf.BatchMatMul, kernelFunc: batchMatMul },
];

/** Registers the training kernels on 'wasm', replacing upstream ones. Idempotent; call before or after init. */
export function registerWasmTrainingKernels(): void {
  for (const { kernelName, kernelFunc } of kernels) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current?.kernelFunc === kernelFunc) continue;
    if (current) {
      // Only the first replaced kernel is stock: later ones may be the benchmark's baseline kernels.
      if (!stock.has(kernelName)) stock.set(kernelName, current.kernelFunc);
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
