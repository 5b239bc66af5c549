import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { Worker } from 'node:worker_threads';
import { applyAugmentation, type BatchAugmentation } from './augment';
import type { WorkerInit, WorkerReply, WorkerRequest } from './grad-worker';
import type { StepResult, Trainer } from './trainer';

export interface ParallelStep {
  /** One update on raw images `x`, augmented as `augmentation` says (each thread augments its own part). */
  step(x: tf.Tensor4D, y: tf.Tensor1D, augmentation: BatchAugmentation): Promise<StepResult>;
  close(): Promise<void>;
}

/**
 * Splits each batch between this thread and a worker thread with a replica of the model: both augment their half
 * and compute its gradients at once (the worker gets the current weights and the batch's augmentation with its raw
 * half), and this thread sums them and makes the one Adam update. BatchNorm's moving statistics are those of this
 * thread's halves. About 1.8× the images/s of one thread on an otherwise idle 2-core machine.
 */
export async function createDataParallelStep(
  model: LayersModel,
  trainer: Trainer,
  init: WorkerInit,
): Promise<ParallelStep> {
  const worker = new Worker(new URL('./grad-worker.mjs', import.meta.url), { workerData: init });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  const variables = model.trainableWeights.map((w) => w.read());
  // One request is in flight at a time; its settlers live here so the worker's listeners are added once.
  let pending: { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void } | null = null;
  let failure: Error | null = null;
  worker.on('message', (reply: WorkerReply) => pending?.resolve(reply));
  worker.on('error', (err) => {
    failure = err;
    pending?.reject(err);
  });

  return {
    async step(x, y, augmentation) {
      if (failure) throw failure;
      const n = x.shape[0];
      const half = Math.ceil(n / 2);
      const [rawX, theirsX] = tf.split<tf.Tensor4D>(x, [half, n - half]);
      const [mineY, theirsY] = tf.split(y, [half, n - half]);
      const request: WorkerRequest = {
        weights: variables.map((v) => v.dataSync().slice() as Float32Array),
        x: theirsX.dataSync() as Float32Array,
        y: theirsY.dataSync() as Float32Array,
        scale: n,
        augmentation,
        begin: half,
      };
      const reply = new Promise<WorkerReply>((resolve, reject) => (pending = { resolve, reject }));
      worker.postMessage(request, [...request.weights.map((w) => w.buffer as ArrayBuffer)]);
      const mineX = applyAugmentation(rawX, augmentation);
      const mine = trainer.gradients(mineX, mineY as tf.Tensor1D, n);
      const theirs = await reply;
      pending = null;
      const grads = tf.tidy(() => mine.grads.map((g, i) => tf.add(g, tf.tensor(theirs.grads[i], g.shape))));
      tf.dispose(mine.grads);
      trainer.applyGradients(grads);
      tf.dispose([rawX, mineX, theirsX, mineY, theirsY]);
      return { loss: (mine.lossSum + theirs.lossSum) / n, correct: mine.correct + theirs.correct };
    },
    async close() {
      await worker.terminate();
    },
  };
}
