/**
 * More cores for training: each worker thread holds a replica of the model and computes the gradients of its part of
 * each batch, with the weights the main thread sends along. tfjs's wasm backend runs one thread per isolate in Node,
 * so worker threads are how training uses several cores.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { parentPort, workerData } from 'node:worker_threads';
import { applyAugmentation, mixPairs, type BatchAugmentation } from './augment';
import { collectBatchNormStats } from '../model/models';
import { createTrainer, type LossSettings } from './trainer';
import { initTrainingBackend } from './wasm/setup';

export interface WorkerInit extends LossSettings {
  /** The main thread's model topology (`model.toJSON()`); its custom layers are registered by importing models.ts. */
  modelTopology: string;
  microBatch: number;
}

export interface WorkerRequest {
  /** Trainable weights in `model.trainableWeights` order. */
  weights: Float32Array[];
  x: Float32Array;
  y: Float32Array;
  /** Each image's class for each of the model's auxiliary heads, image by image (−1 where unknown). */
  aux?: Int32Array;
  /** The whole batch's size, by which the gradients are scaled. */
  scale: number;
  /** How to augment the whole batch; `x` is its images from `begin` on. */
  augmentation: BatchAugmentation;
  begin: number;
}

export interface WorkerReply {
  grads: Float32Array[];
  lossSum: number;
  correct: number;
  auxLossSum: number;
  auxCount: number;
  /** BatchNorm statistics of each micro-batch, in call order, for the main thread's moving averages. */
  stats: Array<{ layer: string; mean: Float32Array; variance: Float32Array }>;
}

const init = workerData as WorkerInit;
await initTrainingBackend();
const model = await tfl.models.modelFromJSON({ modelTopology: JSON.parse(init.modelTopology) });
const [, size] = model.inputs[0].shape as number[];
const trainer = createTrainer(model, init);
const variables = model.trainableWeights;
const port = parentPort!;

port.on('message', (req: WorkerRequest) => {
  variables.forEach((v, i) => {
    const value = tf.tensor(req.weights[i], v.shape as number[]);
    v.write(value);
    value.dispose();
  });
  const n = req.y.length;
  const raw = tf.tensor4d(req.x, [n, size, size, 3]);
  const labels = tf.tensor1d(req.y);
  const aux = req.aux ? tf.tensor2d(req.aux, [n, model.outputs.length - 1], 'int32') : undefined;
  const augmented = applyAugmentation(raw, req.augmentation, req.begin);
  const { x, y } = mixPairs(augmented, labels, req.augmentation, req.begin);
  const { result, stats } = collectBatchNormStats(() => trainer.gradients(x, y, req.scale, aux));
  const reply: WorkerReply = {
    grads: result.grads.map((g) => g.dataSync() as Float32Array),
    lossSum: result.lossSum,
    correct: result.correct,
    auxLossSum: result.auxLossSum,
    auxCount: result.auxCount,
    stats: stats.map(({ layer, mean, variance }) => ({
      layer,
      mean: mean.dataSync() as Float32Array,
      variance: variance.dataSync() as Float32Array,
    })),
  };
  tf.dispose([
    raw,
    labels,
    augmented,
    x,
    y,
    ...(aux ? [aux] : []),
    ...result.grads,
    ...stats.flatMap((s) => [s.mean, s.variance]),
  ]);
  port.postMessage(reply, [
    ...reply.grads.map((g) => g.buffer as ArrayBuffer),
    ...reply.stats.flatMap((s) => [s.mean.buffer as ArrayBuffer, s.variance.buffer as ArrayBuffer]),
  ]);
});
port.postMessage('ready');
