import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-threads';
import { applyBatchNormStats, collectBatchNormStats, type BatchNormStats } from '../model/models';
import { applyAugmentation, mixPairs, type BatchAugmentation } from './augment';
import type { WorkerInit, WorkerReply, WorkerRequest } from './grad-worker';
import type { StepResult, Trainer } from './trainer';

export interface ParallelOptions {
  /** Threads that share each batch: this one and `threads − 1` worker threads. */
  threads: number;
  /** Images per forward pass, and per BatchNorm normalisation: the unit of work a thread takes. */
  microBatch: number;
}

export interface ParallelStep {
  /** One update on raw images `x`, augmented as `augmentation` says (each thread augments its own part). */
  step(x: tf.Tensor4D, y: tf.Tensor1D, augmentation: BatchAugmentation): Promise<StepResult>;
  /** Threads that have work in a batch of `n` images: at most one per micro-batch. */
  busyThreads(n: number): number;
  close(): Promise<void>;
}

/**
 * Each thread's part of a batch of `n` images, as [begin, size]: whole micro-batches, as evenly as they go, this
 * thread first. A thread whose part is empty sits the batch out.
 */
export function shareBatch(n: number, microBatch: number, threads: number): Array<[number, number]> {
  const groups = Math.ceil(n / microBatch);
  const parts: Array<[number, number]> = [];
  let group = 0;
  for (let t = 0; t < threads; t++) {
    const count = Math.floor(groups / threads) + (t < groups % threads ? 1 : 0);
    const begin = Math.min(n, group * microBatch);
    group += count;
    parts.push([begin, Math.min(n, group * microBatch) - begin]);
  }
  return parts;
}

/** A worker thread with a replica of the model; one request in flight at a time. */
class GradWorker {
  private pending: { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: WorkerReply) => this.settle()?.resolve(reply));
    worker.on('error', (err) => {
      this.failure = err;
      this.settle()?.reject(err);
    });
  }

  static async start(init: WorkerInit): Promise<GradWorker> {
    return new GradWorker(await startWorker(new URL('./grad-worker.mjs', import.meta.url), init));
  }

  private settle() {
    const pending = this.pending;
    this.pending = null;
    return pending;
  }

  run(request: WorkerRequest): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const reply = new Promise<WorkerReply>((resolve, reject) => (this.pending = { resolve, reject }));
    this.worker.postMessage(request, [
      ...request.weights.map((w) => w.buffer as ArrayBuffer),
      request.x.buffer as ArrayBuffer,
    ]);
    return reply;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * Splits each batch, by whole micro-batches, between this thread and worker threads that hold replicas of the model:
 * every thread augments its part and computes its gradients at once (each worker gets the current weights and the
 * batch's augmentation with its raw images), and this thread sums the gradients and makes the one Adam update, then
 * moves BatchNorm's averages through every micro-batch's statistics in batch order. A step's result is therefore
 * the same for any number of threads, up to float rounding. Memory: one model replica and one part's activations
 * per worker.
 */
export async function createDataParallelStep(
  model: LayersModel,
  trainer: Trainer,
  opts: ParallelOptions,
): Promise<ParallelStep> {
  const { threads, microBatch } = opts;
  if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`threads must be an integer ≥ 1, got ${threads}`);
  const init: WorkerInit = {
    modelTopology: model.toJSON() as string,
    ...trainer.loss,
    microBatch,
  };
  const workers = await Promise.all(Array.from({ length: threads - 1 }, () => GradWorker.start(init)));
  const variables = model.trainableWeights.map((w) => w.read());

  return {
    async step(x, y, augmentation) {
      const n = x.shape[0];
      const [[, mine], ...theirs] = shareBatch(n, microBatch, threads);
      const weights = variables.map((v) => v.dataSync() as Float32Array);
      const labels = y.dataSync() as Float32Array;
      const pixels = x.dataSync() as Float32Array;
      const perImage = pixels.length / n;
      const replies = theirs.map(([begin, size], i) => {
        if (size === 0) return null;
        const request: WorkerRequest = {
          weights: weights.map((w) => w.slice()),
          x: pixels.slice(begin * perImage, (begin + size) * perImage),
          y: labels.slice(begin, begin + size),
          scale: n,
          augmentation,
          begin,
        };
        return workers[i].run(request);
      });
      const [rawX, rawY] = [tf.slice(x, 0, mine), tf.slice(y, 0, mine)] as [tf.Tensor4D, tf.Tensor1D];
      const augmented = applyAugmentation(rawX, augmentation);
      const { x: mineX, y: mineY } = mixPairs(augmented, rawY, augmentation);
      const own = collectBatchNormStats(() => trainer.gradients(mineX, mineY, n));
      tf.dispose([rawX, rawY, augmented, mineX, mineY]);
      let ready: WorkerReply[];
      try {
        ready = (await Promise.all(replies)).filter((r): r is WorkerReply => r !== null);
      } catch (err) {
        tf.dispose([...own.result.grads, ...own.stats.flatMap((s) => [s.mean, s.variance])]);
        throw err;
      }
      if (ready.length === 0) trainer.applyGradients(own.result.grads);
      else {
        const grads = tf.tidy(() =>
          own.result.grads.map((g, i) => tf.addN([g, ...ready.map((r) => tf.tensor(r.grads[i], g.shape))])),
        );
        tf.dispose(own.result.grads);
        trainer.applyGradients(grads);
      }
      const stats: BatchNormStats[] = [
        ...own.stats,
        ...ready.flatMap((r) =>
          r.stats.map(({ layer, mean, variance }) => ({ layer, mean: tf.tensor(mean), variance: tf.tensor(variance) })),
        ),
      ];
      applyBatchNormStats(model, stats);
      tf.dispose(stats.flatMap((s) => [s.mean, s.variance]));
      return {
        loss: ready.reduce((sum, r) => sum + r.lossSum, own.result.lossSum) / n,
        correct: ready.reduce((sum, r) => sum + r.correct, own.result.correct),
      };
    },
    busyThreads(n) {
      return shareBatch(n, microBatch, threads).filter(([, size]) => size > 0).length;
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
