/**
 * A second core for training: holds a replica of the model and computes the gradients of part of each batch, with
 * the weights the main thread sends along. tfjs's wasm backend runs one thread per isolate in Node, so a worker
 * thread is how training uses both cores.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parentPort, workerData } from 'node:worker_threads';
import { applyAugmentation, type BatchAugmentation } from './augment';
import { buildModel, type Arch } from '../model/models';
import { createTrainer } from './trainer';
import { initTrainingBackend } from './wasm/setup';

export interface WorkerInit {
  arch: Arch;
  inputSize: number;
  classWeights: { female: number; male: number };
  microBatch?: number;
}

export interface WorkerRequest {
  /** Trainable weights in `model.trainableWeights` order. */
  weights: Float32Array[];
  x: Float32Array;
  y: Float32Array;
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
}

const init = workerData as WorkerInit;
await initTrainingBackend();
const model = buildModel(init.arch, { inputSize: init.inputSize });
const trainer = createTrainer(model, { classWeights: init.classWeights, microBatch: init.microBatch });
const variables = model.trainableWeights;
const port = parentPort!;

port.on('message', (req: WorkerRequest) => {
  variables.forEach((v, i) => {
    const value = tf.tensor(req.weights[i], v.shape as number[]);
    v.write(value);
    value.dispose();
  });
  const n = req.y.length;
  const size = init.inputSize;
  const raw = tf.tensor4d(req.x, [n, size, size, 3]);
  const x = applyAugmentation(raw, req.augmentation, req.begin);
  const y = tf.tensor1d(req.y);
  const { grads, lossSum, correct } = trainer.gradients(x, y, req.scale);
  const reply: WorkerReply = { grads: grads.map((g) => g.dataSync() as Float32Array), lossSum, correct };
  tf.dispose([raw, x, y, ...grads]);
  port.postMessage(
    reply,
    reply.grads.map((g) => g.buffer as ArrayBuffer),
  );
});
port.postMessage('ready');
