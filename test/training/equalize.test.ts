import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { equalizeRanges } from '../../training/lib/model/equalize';
import { buildModel } from '../../training/lib/model/models';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { foldBatchNorm } from '../../training/lib/model/fold';
import { loadModelFiles, quantizeWeights } from '../../training/lib/model/model-files';
import { maxRelativeDiff, randomiseNorms, SHIPPED_MODEL, widenOneChannel } from '../support/models';

beforeAll(async () => {
  await initTrainingBackend('wasm');
});

/** The largest |weight| of each channel: a depthwise kernel's channels are its inputs, as they are its outputs. */
function maxima(layer: tfl.layers.Layer, side: 'in' | 'out'): number[] {
  const kernel = layer.getWeights()[0];
  const [inputs, outputs] = kernel.shape.slice(-2);
  const perInput = side === 'in' || layer.getClassName() === 'DepthwiseConv2D';
  const found = Array<number>(perInput ? inputs : outputs).fill(0);
  kernel.dataSync().forEach((v, i) => {
    const c = perInput ? Math.floor(i / outputs) % inputs : i % outputs;
    found[c] = Math.max(found[c], Math.abs(v));
  });
  return found;
}

/** A weight rounded to uint8 and back, one range per tensor, as the export stores it and tfjs reads it. */
function roundTrip(w: tf.Tensor): tf.Tensor {
  const spec = { name: 'w', shape: w.shape, dtype: 'float32' as const };
  const { specs, data } = quantizeWeights([spec], (w.dataSync() as Float32Array).slice().buffer, 'uint8');
  return tf.io.decodeWeights(data, specs).w;
}

/** What rounding every weight to uint8 changes in block1's output, relative to its size (the first block's error). */
function uint8Error(model: tfl.LayersModel, x: tf.Tensor): number {
  const block1 = tfl.model({ inputs: model.inputs, outputs: model.getLayer('block1_pw').output as tfl.SymbolicTensor });
  const exact = model.getWeights().map((w) => w.clone());
  const rounded = exact.map(roundTrip);
  const error = tf.tidy(() => {
    const a = block1.predict(x) as tf.Tensor;
    model.setWeights(rounded);
    const b = block1.predict(x) as tf.Tensor;
    model.setWeights(exact);
    return tf.div(tf.norm(tf.sub(a, b)), tf.norm(a)).dataSync()[0];
  });
  tf.dispose([...exact, ...rounded]);
  return error;
}

describe('equalizeRanges', () => {
  it('keeps the outputs and gives each channel the same largest weight on both sides of its ReLU', async () => {
    const model = await loadModelFiles(SHIPPED_MODEL);
    const shipped = await loadModelFiles(SHIPPED_MODEL);
    widenOneChannel(model, 3, 30);
    const tensors = tf.memory().numTensors;
    expect(equalizeRanges(model)).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(tensors);
    const x = tf.randomUniform([8, 64, 64, 3], 0, 255, 'float32', 3);
    expect(await maxRelativeDiff(shipped, model, x)).toBeLessThan(1e-4);
    const names = model.layers.filter((l) => l.getWeights().length > 0).map((l) => l.name);
    for (let i = 0; i + 1 < names.length; i++) {
      const out = maxima(model.getLayer(names[i]), 'out');
      const into = maxima(model.getLayer(names[i + 1]), 'in');
      out.forEach((r, c) => expect(into[c] / r).toBeCloseTo(1, 2));
    }
    tf.dispose(x);
    [model, shipped].forEach((m) => m.dispose());
  });

  it('takes back what uint8 loses to one channel far wider than the rest of its kernel', async () => {
    // An untrained net: block1's output still depends on its input, and its weights are not yet on a uint8 grid.
    const trained = buildModel('compact', { inputSize: 64, seed: 5 });
    const x = tf.randomUniform([4, 64, 64, 3], 0, 255, 'float32', 6);
    randomiseNorms(trained, 5, x);
    const model = await foldBatchNorm(trained);
    trained.dispose();
    const plain = uint8Error(model, x);
    widenOneChannel(model, 7, 100);
    const widened = uint8Error(model, x);
    equalizeRanges(model);
    const equalized = uint8Error(model, x);
    expect(widened).toBeGreaterThan(3 * plain);
    expect(equalized).toBeLessThan(plain);
    tf.dispose(x);
    model.dispose();
  });

  it('leaves a model whose convolutions are not followed by their own ReLU as it is', () => {
    const model = buildModel('compact', { inputSize: 64, seed: 2 });
    const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
    expect(equalizeRanges(model)).toBe(0);
    model.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(weights[i]));
    model.dispose();
  });
});
