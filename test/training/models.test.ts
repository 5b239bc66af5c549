import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { FastBatchNorm, LeanConv2D, buildModel, countParams, withAuxHeads } from '../../training/lib/model/models';
import { createTrainer } from '../../training/lib/fit/trainer';

beforeAll(async () => {
  await initTrainingBackend('wasm');
});

describe('compact', () => {
  let model: LayersModel;
  beforeAll(() => {
    model = buildModel('compact', { inputSize: 64 });
  });

  it('stays within the browser parameter budget', () => {
    const params = countParams(model);
    expect(params).toBeGreaterThanOrEqual(150_000);
    expect(params).toBeLessThanOrEqual(250_000);
  });

  it('maps [n, 64, 64, 3] to one probability per image', () => {
    expect(model.inputs[0].shape).toEqual([null, 64, 64, 3]);
    expect(model.outputs[0].shape).toEqual([null, 1]);
  });

  it('takes raw 0–255 pixels and normalises them itself', () => {
    const [first] = model.layers;
    expect(first.getClassName()).toBe('Rescaling');
    expect(first.getConfig()).toMatchObject({ scale: 1 / 127.5, offset: -1 });
    const p = tf.tidy(() => {
      const x = tf.randomUniform([4, 64, 64, 3], 0, 255, 'float32', 1);
      return Array.from((model.predict(x) as tf.Tensor).dataSync());
    });
    for (const v of p) {
      expect(v).toBeGreaterThan(0.001);
      expect(v).toBeLessThan(0.999);
    }
  });

  it('is deterministic for a given seed', () => {
    const a = buildModel('compact', { inputSize: 32, seed: 5 });
    const b = buildModel('compact', { inputSize: 32, seed: 5 });
    const same = tf.tidy(() =>
      a.getWeights().every((w, i) => tf.all(tf.equal(w, b.getWeights()[i])).dataSync()[0] === 1),
    );
    expect(same).toBe(true);
    a.dispose();
    b.dispose();
  });
});

describe('wide8', () => {
  it('has the wide net’s weights, and pools its last block from 8×8 places instead of 4×4', () => {
    const wide = buildModel('wide', { inputSize: 64 });
    const wide8 = buildModel('wide8', { inputSize: 64 });
    expect(wide8.weights.map((w) => w.shape)).toEqual(wide.weights.map((w) => w.shape));
    expect(countParams(wide8)).toBe(446_601);
    expect(wide.getLayer('block6_pw_relu').outputShape).toEqual([null, 4, 4, 528]);
    expect(wide8.getLayer('block6_pw_relu').outputShape).toEqual([null, 8, 8, 528]);
    expect(wide8.outputs[0].shape).toEqual([null, 1]);
    wide.dispose();
    wide8.dispose();
  });
});

describe('wider', () => {
  it('is the compact net with 1.9375× its channels, √2 times the wide net’s, for about twice its weights', () => {
    const wider = buildModel('wider', { inputSize: 64 });
    expect(countParams(wider)).toBe(871_845);
    expect(wider.getLayer('stem_relu').outputShape).toEqual([null, 32, 32, 62]);
    expect(wider.getLayer('block6_pw_relu').outputShape).toEqual([null, 4, 4, 744]);
    expect(wider.outputs[0].shape).toEqual([null, 1]);
    wider.dispose();
  });
});

describe('wide64', () => {
  it('is the wide net with its stem at stride 1 and its first block’s 5×5 filter at stride 2', () => {
    const wide = buildModel('wide', { inputSize: 64 });
    const wide64 = buildModel('wide64', { inputSize: 64 });
    expect(countParams(wide64)).toBe(447_369);
    expect(wide64.getLayer('stem_relu').outputShape).toEqual([null, 64, 64, 48]);
    expect(wide64.getLayer('block1_dw').weights[0].shape).toEqual([5, 5, 48, 1]);
    expect(wide64.getLayer('block1_pw_relu').outputShape).toEqual([null, 32, 32, 88]);
    expect(wide64.layers.map((l) => l.name)).toEqual(wide.layers.map((l) => l.name));
    for (const layer of wide.layers.filter((l) => l.name !== 'block1_dw'))
      expect(wide64.getLayer(layer.name).weights.map((w) => w.shape)).toEqual(layer.weights.map((w) => w.shape));
    wide.dispose();
    wide64.dispose();
  });
});

describe('deep', () => {
  it('is the wide net with its first 32×32 and 16×16 blocks repeated at stride 1, the wide net’s names kept', () => {
    const wide = buildModel('wide', { inputSize: 64 });
    const deep = buildModel('deep', { inputSize: 64 });
    expect(countParams(deep)).toBe(489_809);
    const names = (m: typeof wide) => m.layers.map((l) => l.name);
    expect(names(deep).filter((n) => !names(wide).includes(n))).toEqual(
      ['block1r', 'block3r'].flatMap((b) => [
        `${b}_dw`,
        `${b}_dw_bn`,
        `${b}_dw_relu`,
        `${b}_pw`,
        `${b}_pw_bn`,
        `${b}_pw_relu`,
      ]),
    );
    expect(deep.getLayer('block1r_pw_relu').outputShape).toEqual([null, 32, 32, 88]);
    expect(deep.getLayer('block3r_pw_relu').outputShape).toEqual([null, 16, 16, 176]);
    for (const layer of wide.layers)
      expect(deep.getLayer(layer.name).weights.map((w) => w.shape)).toEqual(layer.weights.map((w) => w.shape));
    wide.dispose();
    deep.dispose();
  });
});

describe('LeanConv2D', () => {
  const args = { filters: 8, kernelSize: 3, strides: 2, padding: 'same' as const, useBias: false };

  it('gives the stock Conv2D output and gradients', () => {
    const lean = new LeanConv2D(args);
    const stock = tfl.layers.conv2d(args);
    const x = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
    for (const layer of [lean, stock]) layer.apply(x);
    stock.setWeights(lean.getWeights());
    const [a, b] = [lean, stock].map((layer) =>
      tf.variableGrads(
        () => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar,
        [layer.weights[0].read() as tf.Variable],
      ),
    );
    expect(a.value.dataSync()[0]).toBeCloseTo(b.value.dataSync()[0], 3);
    const [ga, gb] = [a, b].map((r) => Object.values(r.grads)[0]);
    expect(tf.max(tf.abs(tf.sub(ga, gb))).dataSync()[0]).toBeLessThan(1e-4 * tf.max(tf.abs(gb)).dataSync()[0]);
    expect(lean.getClassName()).toBe('Conv2D');
    tf.dispose([x, a.value, b.value, ga, gb]);
  });

  it("spares compact's training step the gradient of the image", async () => {
    const model = buildModel('compact', { inputSize: 32 });
    const trainer = createTrainer(model);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1]);
    const info = await tf.profile(() => tf.dispose(trainer.gradients(x, y, 2).grads));
    const inputGrads = info.kernels.filter((k) => k.name === 'Conv2DBackpropInput');
    expect(inputGrads.length).toBeGreaterThan(0);
    expect(inputGrads.some((k) => k.outputShapes.some((s) => s?.[3] === 3))).toBe(false);
    tf.dispose([x, y]);
    trainer.optimizer.dispose();
    model.dispose();
  });
});

describe('seed', () => {
  let model: LayersModel;
  beforeAll(() => {
    model = buildModel('seed', { inputSize: 64 });
  });

  it('is the tutorial network, layer for layer', () => {
    const summary = model.layers.map((layer) => {
      const c = layer.getConfig();
      switch (layer.getClassName()) {
        case 'Conv2D':
          return `Conv ${c.filters} ${(c.kernelSize as number[]).join('×')} s${(c.strides as number[])[0]} ${c.padding} ${c.activation}`;
        case 'MaxPooling2D':
          return `MaxPool ${(c.poolSize as number[])[0]} s${(c.strides as number[])[0]}`;
        case 'Dense':
          return `Dense ${c.units} ${c.activation}`;
        case 'Dropout':
          return `Dropout ${c.rate}`;
        default:
          return layer.getClassName();
      }
    });
    expect(summary).toEqual([
      'Rescaling',
      'Conv 96 11×11 s4 valid relu',
      'BatchNormalization',
      'MaxPool 2 s2',
      'Conv 256 11×11 s1 same relu',
      'BatchNormalization',
      'Conv 384 3×3 s1 same relu',
      'BatchNormalization',
      'Conv 384 3×3 s1 same relu',
      'BatchNormalization',
      'Conv 256 3×3 s1 same relu',
      'BatchNormalization',
      'MaxPool 2 s2',
      'Flatten',
      'Dense 4096 relu',
      'Dropout 0.5',
      'Dense 4096 relu',
      'Dropout 0.5',
      'Dense 1 sigmoid',
    ]);
  });

  it('builds at 64×64 with a 3×3×256 feature map before the head', () => {
    expect(model.getLayer('flatten').outputShape).toEqual([null, 2304]);
    expect(model.outputs[0].shape).toEqual([null, 1]);
    expect(countParams(model)).toBeGreaterThan(32_000_000);
  });
});

describe('fast BatchNorm training pass', () => {
  /** Output, input and parameter gradients, and moving statistics after one training-mode call. */
  function trainOnce(fast: boolean): Float32Array[] {
    const layer = fast ? new FastBatchNorm({ momentum: 0.9 }) : tfl.layers.batchNormalization({ momentum: 0.9 });
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [5, 4, 32] }), layer] });
    return tf.tidy(() => {
      const x = tf.randomNormal([3, 5, 4, 32], 2, 3, 'float32', 1);
      const dy = tf.randomNormal([3, 5, 4, 32], 0, 1, 'float32', 2);
      const gamma = layer.trainableWeights[0].read() as tf.Variable;
      gamma.assign(tf.randomNormal([32], 1, 0.5, 'float32', 3));
      const f = (input: tf.Tensor) => tf.sum(tf.mul(model.apply(input, { training: true }) as tf.Tensor, dy));
      const { value, grads } = tf.variableGrads(() => f(x) as tf.Scalar);
      const dx = tf.grad(f)(x);
      return [value, dx, ...Object.values(grads), ...layer.getWeights().slice(2)].map(
        (t) => t.dataSync() as Float32Array,
      );
    });
  }

  it('matches tfjs-layers BatchNormalization: output, gradients and moving statistics', () => {
    const fast = trainOnce(true);
    const stock = trainOnce(false);
    expect(fast.length).toBe(stock.length);
    fast.forEach((values, i) => {
      const scale = Math.max(...stock[i].map(Math.abs));
      const err = Math.max(...values.map((v, j) => Math.abs(v - stock[i][j])));
      expect(err / scale).toBeLessThan(1e-4);
    });
  });

  it('keeps no temporaries of its backward pass until the whole backward pass ends', async () => {
    // tfjs keeps each layer's saved input and its gradient to the end of the backward pass: two activations per
    // layer. Each added layer may cost that, not the five temporaries of the closed form on top.
    const activationBytes = 8 * 16 * 16 * 32 * 4;
    const peakBytes = async (depth: number) => {
      const layers = Array.from({ length: depth }, () => new FastBatchNorm({ momentum: 0.9 }));
      const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [16, 16, 32] }), ...layers] });
      const x = tf.randomNormal([8, 16, 16, 32], 0, 1, 'float32', 1);
      const info = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor));
        tf.dispose([value, ...Object.values(grads)]);
      });
      tf.dispose(x);
      model.dispose();
      return info.peakBytes;
    };
    const perLayer = ((await peakBytes(8)) - (await peakBytes(4))) / 4 / activationBytes;
    expect(perLayer).toBeLessThanOrEqual(2.5);
  });

  it('serialises as a plain BatchNormalization', () => {
    const model = buildModel('compact', { inputSize: 8 });
    expect(model.getLayer('stem_bn').getClassName()).toBe('BatchNormalization');
    expect(JSON.stringify(model.toJSON())).not.toContain('Fast');
  });
});

describe('withAuxHeads', () => {
  it('adds a softmax head per column on the pooled features, sharing every layer with the model it extends', () => {
    const model = buildModel('compact', { inputSize: 32, seed: 2 });
    const twin = withAuxHeads(model, [
      { name: 'race', classes: 7 },
      { name: 'age', classes: 4 },
    ]);
    expect(twin.outputs.map((o) => o.shape)).toEqual([
      [null, 1],
      [null, 7],
      [null, 4],
    ]);
    expect(twin.trainableWeights.slice(0, model.trainableWeights.length)).toEqual(model.trainableWeights);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 255, 'float32', 1);
    const [p, ...logits] = twin.predict(x) as tf.Tensor[];
    const alone = model.predict(x) as tf.Tensor;
    expect(Array.from(p.dataSync())).toEqual(Array.from(alone.dataSync()));
    // A resumed run's head takes its saved weights back.
    const [kernel, bias] = twin
      .getLayer('aux_age')
      .getWeights()
      .map((w) => w.dataSync() as Float32Array);
    const again = withAuxHeads(model, [{ name: 'age', classes: 4, kernel, bias }]);
    expect(
      again
        .getLayer('aux_age')
        .getWeights()
        .map((w) => Array.from(w.dataSync())),
    ).toEqual([Array.from(kernel), Array.from(bias)]);
    tf.dispose([x, p, alone, ...logits]);
    model.dispose();
  });
});
