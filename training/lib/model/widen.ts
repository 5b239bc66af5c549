import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { mulberry32 } from '../../../src/core/augment';

/**
 * Net2WiderNet (Chen, Goodfellow and Shlens, 2016): gives `wide`, a Sequential model with the same layers as
 * `narrow` but as many or more channels in each, the function of `narrow`, so a wider network starts training where
 * a trained narrower one stands instead of from scratch. Channel c of a widened layer is a copy of channel g(c) of
 * the narrow one: its own channels first, then channels chosen at random again. A convolution or dense layer that
 * reads copied channels divides each one's weights by its number of copies, so its sums are unchanged; depthwise
 * convolutions and BatchNormalization copy per channel. With `noise` > 0 the copies' incoming weights get Gaussian
 * noise of that fraction of the layer's weights' spread, which lets training pull copies apart.
 */
export function widenModel(narrow: tfl.LayersModel, wide: tfl.LayersModel, seed: number, noise = 0): void {
  if (narrow.layers.length !== wide.layers.length) throw new Error('widenModel: the two networks differ in depth');
  const rng = mulberry32(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  // Which narrow channel each channel of the current activation copies; null while it is the unwidened input.
  let map: Int32Array<ArrayBuffer> | null = null;
  let copies = new Int32Array(0);
  const source = (c: number) => (map ? map[c] : c);
  const share = (c: number) => (map ? 1 / copies[map[c]] : 1);

  narrow.layers.forEach((from, i) => {
    const to = wide.layers[i];
    if (from.getClassName() !== to.getClassName() || from.name !== to.name)
      throw new Error(`widenModel: layer ${i} is ${from.name} in one network and ${to.name} in the other`);
    const weights = from.getWeights();
    if (weights.length === 0) return;
    const shapes = to.weights.map((w) => w.shape as number[]);
    const values = weights.map((w) => w.dataSync());
    let made: Float32Array[];
    switch (from.getClassName()) {
      case 'Conv2D':
      case 'Dense': {
        // Kernels [..., in, out] (Dense: [in, out]), then an optional bias [out].
        const shape = weights[0].shape;
        const [inOld, outOld] = shape.slice(-2);
        const [inNew, outNew] = shapes[0].slice(-2);
        const taps = weights[0].size / (inOld * outOld);
        const outMap = growMap(outOld, outNew, rng);
        const spread = noise > 0 ? standardDeviation(values[0]) * noise : 0;
        const kernel = new Float32Array(taps * inNew * outNew);
        for (let t = 0; t < taps; t++)
          for (let c = 0; c < inNew; c++)
            for (let o = 0; o < outNew; o++) {
              const old = values[0][(t * inOld + source(c)) * outOld + outMap[o]] * share(c);
              kernel[(t * inNew + c) * outNew + o] = o < outOld ? old : old + spread * gaussian();
            }
        made = [kernel, ...values.slice(1).map((bias) => Float32Array.from(outMap, (o) => bias[o]))];
        map = outMap;
        copies = countCopies(outMap, outOld);
        break;
      }
      case 'DepthwiseConv2D': {
        // [kh, kw, channels, 1]: each channel filtered on its own, so copies copy.
        const channels = weights[0].shape[2] as number;
        const widened = shapes[0][2];
        const taps = weights[0].size / channels;
        const spread = noise > 0 ? standardDeviation(values[0]) * noise : 0;
        const kernel = new Float32Array(taps * widened);
        for (let t = 0; t < taps; t++)
          for (let c = 0; c < widened; c++) {
            const old = values[0][t * channels + source(c)];
            kernel[t * widened + c] = map && c >= channels ? old + spread * gaussian() : old;
          }
        made = [
          kernel,
          ...values.slice(1).map((bias) => Float32Array.from({ length: widened }, (_, c) => bias[source(c)])),
        ];
        break;
      }
      case 'BatchNormalization':
        made = values.map((v, k) => Float32Array.from({ length: shapes[k][0] }, (_, c) => v[source(c)]));
        break;
      default:
        throw new Error(`widenModel: cannot widen a ${from.getClassName()} layer (${from.name})`);
    }
    const tensors = made.map((v, k) => tf.tensor(v, shapes[k]));
    to.setWeights(tensors);
    tf.dispose(tensors);
  });
}

/** Channel c of a layer widened from `from` to `to` channels copies channel map[c]: itself, then random ones. */
function growMap(from: number, to: number, rng: () => number): Int32Array<ArrayBuffer> {
  if (to < from) throw new Error(`widenModel: cannot narrow a layer from ${from} to ${to} channels`);
  return Int32Array.from({ length: to }, (_, c) => (c < from ? c : Math.floor(rng() * from)));
}

function countCopies(map: Int32Array, channels: number): Int32Array<ArrayBuffer> {
  const counts = new Int32Array(channels);
  for (const c of map) counts[c]++;
  return counts;
}

function standardDeviation(values: ArrayLike<number>): number {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    squares += values[i] * values[i];
  }
  const mean = sum / values.length;
  return Math.sqrt(Math.max(0, squares / values.length - mean * mean));
}
