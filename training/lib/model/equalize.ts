import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** Layers whose kernel scales each input channel, and those that pass each channel on scaled by the same factor. */
const WEIGHTED = new Set(['Conv2D', 'DepthwiseConv2D', 'Dense']);
const CHANNELWISE = new Set(['GlobalAveragePooling2D', 'Dropout']);
/** Sweeps stop when no channel's factor is further than this from 1 (in log terms). */
const TOLERANCE = 1e-3;
const MAX_SWEEPS = 500;

/** Kernels as flat arrays with their shapes: Conv2D [h, w, in, out], depthwise [h, w, in, 1], Dense [in, out]. */
interface Kernel {
  layer: tfl.layers.Layer;
  shape: number[];
  values: Float32Array;
  bias?: Float32Array;
}

/** Each weight's channel on one side of its kernel, and how many channels that side has. */
function channelsOf(kernel: Kernel, side: 'in' | 'out'): { count: number; of: (i: number) => number } {
  const inputs = kernel.shape[kernel.shape.length - 2];
  const outputs = kernel.shape[kernel.shape.length - 1];
  // A depthwise kernel's output channel is its input channel (multiplier 1, as the separable blocks have).
  if (side === 'in' || kernel.layer.getClassName() === 'DepthwiseConv2D')
    return { count: inputs, of: (i) => Math.floor(i / outputs) % inputs };
  return { count: outputs, of: (i) => i % outputs };
}

function channelMaxima(kernel: Kernel, side: 'in' | 'out'): Float32Array {
  const channels = channelsOf(kernel, side);
  const maxima = new Float32Array(channels.count);
  kernel.values.forEach((v, i) => {
    const c = channels.of(i);
    maxima[c] = Math.max(maxima[c], Math.abs(v));
  });
  return maxima;
}

function scaleChannels(kernel: Kernel, side: 'in' | 'out', factors: Float32Array): void {
  const channels = channelsOf(kernel, side);
  kernel.values.forEach((v, i) => (kernel.values[i] = v * factors[channels.of(i)]));
  if (side === 'out' && kernel.bias) kernel.bias.forEach((b, c) => (kernel.bias![c] = b * factors[c]));
}

/**
 * Cross-layer equalization (Nagel et al. 2019) of a folded model, in place, with the same outputs: where a
 * convolution with a plain ReLU feeds the next weighted layer (through pooling or dropout, which act on each channel
 * alone), each channel c's outgoing weights and bias are divided by s_c and the next layer's weights on that channel
 * multiplied by it. ReLU(x / s) = ReLU(x) / s for s > 0, so nothing changes but the ranges: s_c = √(r₁/r₂) gives the
 * channel the same largest weight, √(r₁·r₂), on both sides. uint8 keeps one range per tensor, so a channel far
 * wider than the rest of its kernel coarsens every other channel's step; after equalization none stands out alone.
 * Returns the number of sweeps over the pairs it took.
 */
export function equalizeRanges(model: tfl.LayersModel): number {
  const kernels: Kernel[] = [];
  const pairs: Array<[Kernel, Kernel]> = [];
  let previous: Kernel | undefined;
  for (const layer of model.layers) {
    const name = layer.getClassName();
    if (CHANNELWISE.has(name)) continue;
    if (!WEIGHTED.has(name)) {
      previous = undefined;
      continue;
    }
    const [w, b] = layer.getWeights();
    const kernel: Kernel = { layer, shape: w.shape, values: w.dataSync().slice() as Float32Array };
    if (b) kernel.bias = b.dataSync().slice() as Float32Array;
    const depthMultiplier = name === 'DepthwiseConv2D' ? w.shape[3] : 1;
    if (previous && depthMultiplier === 1) pairs.push([previous, kernel]);
    kernels.push(kernel);
    const activation = layer.getConfig().activation;
    previous = activation === 'relu' && depthMultiplier === 1 ? kernel : undefined;
  }
  if (pairs.length === 0) return 0;
  let sweeps = 0;
  for (; sweeps < MAX_SWEEPS; sweeps++) {
    let furthest = 0;
    for (const [first, next] of pairs) {
      const r1 = channelMaxima(first, 'out');
      const r2 = channelMaxima(next, 'in');
      // A channel dead on either side has nothing to balance.
      const s = r1.map((r, c) => (r > 0 && r2[c] > 0 ? Math.sqrt(r / r2[c]) : 1));
      furthest = Math.max(furthest, ...s.map((f) => Math.abs(Math.log(f))));
      scaleChannels(
        first,
        'out',
        s.map((f) => 1 / f),
      );
      scaleChannels(next, 'in', s);
    }
    if (furthest < TOLERANCE) break;
  }
  for (const { layer, shape, values, bias } of kernels) {
    const tensors = [tf.tensor(values, shape), ...(bias ? [tf.tensor1d(bias)] : [])];
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
  return sweeps;
}
