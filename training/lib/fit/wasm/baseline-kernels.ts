import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { Conv2DBackpropFilterAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  assertChannelsLast,
  batchNormAffine,
  depthwiseFilterGradientArgs,
  dilatedConvFilterGradient,
  fallback,
  isPlainPointwise,
  leadingReduction,
  Scope,
  sumRows,
  type KernelArgs,
  type Shape4,
} from './grad-kernels';

/*
 * Kernels as they were before the faster ones in grad-kernels.ts (filter gradients, leading-axis Sum/Mean,
 * FusedBatchNorm, and the stock Identity and Cast), kept only so that `npm run bench:train -- --baseline` can time a training
 * step with them in the same run as the current kernels. Only that benchmark loads this module (through setup.ts in
 * its worker threads).
 */

/** Conv2D filter gradient: a matrix product for plain 1×1 convs, else the dilated Conv2D grad-kernels.ts keeps for wide patches. */
function conv2DBackpropFilter(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  assertChannelsLast('Conv2DBackpropFilter', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode);
  const [kh, kw, ci, co] = filterShape;
  const [n, h, w] = x.shape;
  const s = new Scope(backend);
  if (isPlainPointwise(kh, kw, info)) {
    const rows = n * h * w;
    const xt = s.run('Transpose', { x: Scope.reshape(x, [rows, ci]) }, { perm: [1, 0] });
    const dw = s.run('BatchMatMul', { a: Scope.reshape(xt, [1, ci, rows]), b: Scope.reshape(dy, [1, rows, co]) });
    return s.finish(Scope.reshape(dw, filterShape));
  }
  return s.finish(dilatedConvFilterGradient(s, x, dy, filterShape, info));
}

/** Depthwise filter gradient as one depthwise conv over x as a single image of batch×channels channels. */
function depthwiseBackpropFilter(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const { x, dy, filterShape, info } = depthwiseFilterGradientArgs(args);
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

/** Sum or Mean over leading axes in one JS pass, in float64. */
function reduceLeading(kernel: 'Sum' | 'Mean') {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const reduction = leadingReduction(args);
    if (!reduction) return fallback(kernel, args);
    const { x, k, outShape } = reduction;
    const outer = tf.util.sizeFromShape(x.shape.slice(0, k));
    const inner = tf.util.sizeFromShape(x.shape.slice(k));
    const out = backend.makeOutput(outShape, 'float32');
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    const src = backend.typedArrayFromHeap(x) as Float32Array;
    const acc = sumRows(src, outer, inner);
    const scale = kernel === 'Mean' ? 1 / outer : 1;
    for (let c = 0; c < inner; c++) dst[c] = acc[c] * scale;
    return out;
  };
}

/** FusedBatchNorm as a per-channel affine map: the [C] coefficients in JS, then wasm's broadcasting Multiply and Add. */
function batchNorm(args: KernelArgs): TensorInfo {
  const s = new Scope(args.backend as BackendWasm);
  const affine = batchNormAffine(s, args);
  if (!affine) return fallback('FusedBatchNorm', args);
  const { x, k, b } = affine;
  const scaled = s.run('Multiply', { a: x, b: k });
  return s.finish(s.run('Add', { a: scaled, b }));
}

const kernels: Array<{ kernelName: string; kernelFunc: (args: KernelArgs) => TensorInfo }> = [
  { kernelName: tf.Conv2DBackpropFilter, kernelFunc: conv2DBackpropFilter },
  { kernelName: tf.DepthwiseConv2dNativeBackpropFilter, kernelFunc: depthwiseBackpropFilter },
  { kernelName: tf.Sum, kernelFunc: reduceLeading('Sum') },
  { kernelName: tf.Mean, kernelFunc: reduceLeading('Mean') },
  { kernelName: tf.FusedBatchNorm, kernelFunc: batchNorm },
  { kernelName: tf.Identity, kernelFunc: (args) => fallback('Identity', args) },
  { kernelName: tf.Cast, kernelFunc: (args) => fallback('Cast', args) },
];

/** Swaps the baseline kernels in on 'wasm'; `registerWasmTrainingKernels` swaps the current ones back. */
export function registerBaselineKernels(): void {
  for (const { kernelName, kernelFunc } of kernels) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: kernelFunc as KernelFunc,
      setupFunc: current?.setupFunc,
    });
  }
}
