import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-threads';
import { applyBatchNormStats, collectBatchNormStats, type BatchNormStats } from '../model/models';
import { applyAugmentation, mixPairs, type BatchAugmentation } from './augment';
import type { WorkerInit, WorkerReply, WorkerRequest } from './grad-worker';
import type { Gradients, StepResult, Trainer } from './trainer';

export interface ParallelOptions {
  /** Threads that share each batch: this one and `threads − 1` worker threads. */
  threads: number;
  /** Images per forward pass, and per BatchNorm normalisation: the unit of work a thread takes. */
  microBatch: number;
  /**
   * ρ of sharpness-aware minimisation (Foret et al., ICLR 2021; default 0, off): each update takes the gradient at
   * the weights moved ρ along the batch's normalised gradient, the worst nearby point to first order, so that
   * training seeks minima that stay low around them. Twice the gradient work per step.
   */
  sam?: number;
  /**
   * The weights each update's gradient is taken at, from the weights the model holds (default: those): training
   * for a uint4 export takes them rounded as the export will round them, and updates the unrounded ones with that
   * gradient (the straight-through estimator), so that small steps add up. Not with `sam`.
   */
  gradientAt?: (weights: Float32Array[]) => Float32Array[];
}

export interface ParallelStep {
  /**
   * One update on raw images `x`, augmented as `augmentation` says (each thread augments its own part); `aux`: each
   * image's classes for a model's auxiliary heads, as `Trainer.step` takes them.
   */
  step(x: tf.Tensor4D, y: tf.Tensor1D, augmentation: BatchAugmentation, aux?: tf.Tensor2D): Promise<StepResult>;
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
  const { threads, microBatch, sam = 0, gradientAt } = opts;
  if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`threads must be an integer ≥ 1, got ${threads}`);
  if (!(sam >= 0)) throw new Error(`sam must be at least 0, got ${sam}`);
  if (sam > 0 && gradientAt) throw new Error('sam and gradientAt cannot be combined');
  const init: WorkerInit = {
    modelTopology: model.toJSON() as string,
    ...trainer.loss,
    microBatch,
  };
  const workers = await Promise.all(Array.from({ length: threads - 1 }, () => GradWorker.start(init)));
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);

  /** The batch's summed gradients at `weights` (which the main thread's variables hold), and every micro-batch's
   * BatchNorm statistics in batch order. The caller owns the tensors. */
  async function batchGradients(
    x: tf.Tensor4D,
    y: tf.Tensor1D,
    augmentation: BatchAugmentation,
    weights: Float32Array[],
    aux: tf.Tensor2D | undefined,
  ): Promise<Gradients & { stats: BatchNormStats[] }> {
    const n = x.shape[0];
    const [[, mine], ...theirs] = shareBatch(n, microBatch, threads);
    const labels = y.dataSync() as Float32Array;
    const heads = aux ? aux.shape[1] : 0;
    const classes = aux?.dataSync() as Int32Array | undefined;
    const pixels = x.dataSync() as Float32Array;
    const perImage = pixels.length / n;
    const replies = theirs.map(([begin, size], i) => {
      if (size === 0) return null;
      const request: WorkerRequest = {
        weights: weights.map((w) => w.slice()),
        x: pixels.slice(begin * perImage, (begin + size) * perImage),
        y: labels.slice(begin, begin + size),
        ...(classes ? { aux: classes.slice(begin * heads, (begin + size) * heads) } : {}),
        scale: n,
        augmentation,
        begin,
      };
      return workers[i].run(request);
    });
    const [rawX, rawY] = [tf.slice(x, 0, mine), tf.slice(y, 0, mine)] as [tf.Tensor4D, tf.Tensor1D];
    const augmented = applyAugmentation(rawX, augmentation);
    const { x: mineX, y: mineY } = mixPairs(augmented, rawY, augmentation);
    const mineAux = aux && (tf.slice(aux, 0, mine) as tf.Tensor2D);
    const own = collectBatchNormStats(() => trainer.gradients(mineX, mineY, n, mineAux));
    tf.dispose([rawX, rawY, augmented, mineX, mineY, ...(mineAux ? [mineAux] : [])]);
    let ready: WorkerReply[];
    try {
      ready = (await Promise.all(replies)).filter((r): r is WorkerReply => r !== null);
    } catch (err) {
      tf.dispose([...own.result.grads, ...own.stats.flatMap((s) => [s.mean, s.variance])]);
      throw err;
    }
    const grads =
      ready.length === 0
        ? own.result.grads
        : tf.tidy(() =>
            own.result.grads.map((g, i) => tf.addN([g, ...ready.map((r) => tf.tensor(r.grads[i], g.shape))])),
          );
    if (ready.length > 0) tf.dispose(own.result.grads);
    return {
      grads,
      lossSum: ready.reduce((sum, r) => sum + r.lossSum, own.result.lossSum),
      correct: ready.reduce((sum, r) => sum + r.correct, own.result.correct),
      auxLossSum: ready.reduce((sum, r) => sum + r.auxLossSum, own.result.auxLossSum),
      auxCount: ready.reduce((sum, r) => sum + r.auxCount, own.result.auxCount),
      stats: [
        ...own.stats,
        ...ready.flatMap((r) =>
          r.stats.map(({ layer, mean, variance }) => ({ layer, mean: tf.tensor(mean), variance: tf.tensor(variance) })),
        ),
      ],
    };
  }

  function moveTo(weights: Float32Array[]): void {
    variables.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(weights[i], v.shape))));
  }
  /** Moves the main thread's variables `rho` along the direction of `grads`, and returns where they are now. */
  function ascend(grads: tf.Tensor[], rho: number): Float32Array[] {
    const squares = tf.tidy(() => tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
    const norm = Math.sqrt(squares.dataSync()[0]);
    squares.dispose();
    return variables.map((v, i) =>
      tf.tidy(() => {
        const moved = tf.add(v, tf.mul(grads[i], rho / (norm + 1e-12)));
        v.assign(moved);
        return moved.dataSync() as Float32Array;
      }),
    );
  }

  return {
    async step(x, y, augmentation, aux) {
      const n = x.shape[0];
      const weights = variables.map((v) => v.dataSync() as Float32Array);
      let first: Awaited<ReturnType<typeof batchGradients>>;
      if (gradientAt) {
        const at = gradientAt(weights);
        moveTo(at);
        try {
          first = await batchGradients(x, y, augmentation, at, aux);
        } finally {
          moveTo(weights);
        }
      } else {
        first = await batchGradients(x, y, augmentation, weights, aux);
      }
      let grads = first.grads;
      if (sam > 0) {
        // The same images (augmentation is a function of the batch's draw), at the worst nearby weights.
        let second: Awaited<ReturnType<typeof batchGradients>>;
        try {
          second = await batchGradients(x, y, augmentation, ascend(first.grads, sam), aux);
        } catch (err) {
          tf.dispose([...first.grads, ...first.stats.flatMap((s) => [s.mean, s.variance])]);
          throw err;
        } finally {
          moveTo(weights);
        }
        tf.dispose([...first.grads, ...second.stats.flatMap((s) => [s.mean, s.variance])]);
        grads = second.grads;
      }
      trainer.applyGradients(grads);
      // BatchNorm's averages follow the batch at the weights of the first gradient: where the step started, or rounded.
      applyBatchNormStats(model, first.stats);
      tf.dispose(first.stats.flatMap((s) => [s.mean, s.variance]));
      return {
        loss: first.lossSum / n,
        correct: first.correct,
        auxLoss: first.auxCount > 0 ? first.auxLossSum / first.auxCount : 0,
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
