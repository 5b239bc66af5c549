import * as tf from '@tensorflow/tfjs-core';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-threads';
import type { CropSettings } from '../../../src/core/crop';
import type { CropReply, CropRequest, CropWorkerInit } from './crop-worker';
import type { RgbImage } from './images';
import { loadBlazeFace } from '../../../src/vision/detector';
import { blazeFaceModels } from '../node-io';
import { mainThreadCropper, type Cropper, type CropOutcome } from './prepare-crops';

export type ClosableCropper = Cropper & { close(): Promise<void> };

/**
 * A cropper on `threads` threads (worker threads from 2 on; the main thread alone for 1), started on its first crop,
 * so that a run whose crops are all cached starts no detector.
 */
export function cropPool(threads: number, settings: CropSettings): ClosableCropper {
  let started: Promise<ClosableCropper> | undefined;
  const start = () =>
    (started ??=
      threads > 1
        ? startCropWorkers(threads, settings)
        : loadBlazeFace(blazeFaceModels()).then((detector) => ({
            ...mainThreadCropper(detector, settings),
            close: async () => detector.dispose(),
          })));
  return {
    parallel: threads,
    crop: async (image) => (await start()).crop(image),
    close: async () => {
      if (started) await (await started).close();
    },
  };
}

/**
 * The crop step on `threads` worker threads, each with its own BlazeFace on the main thread's backend, so that
 * detection (most of a crop's time) uses every core while the main thread reads, hashes and decodes files.
 */
async function startCropWorkers(threads: number, settings: CropSettings): Promise<ClosableCropper> {
  if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`threads must be an integer ≥ 1, got ${threads}`);
  const init: CropWorkerInit = { backend: tf.getBackend(), settings };
  const url = new URL('./crop-worker.mjs', import.meta.url);
  const workers = await Promise.all(Array.from({ length: threads }, () => startWorker(url, init)));
  const idle = [...workers];
  // Callers waiting for an idle worker, and each busy worker's one crop.
  const queue: (() => void)[] = [];
  const busy = new Map<Worker, { resolve: (o: CropOutcome) => void; reject: (e: Error) => void }>();
  let failure: Error | null = null;
  for (const worker of workers) {
    worker.on('message', (reply: CropReply) => {
      const job = busy.get(worker);
      busy.delete(worker);
      idle.push(worker);
      if ('error' in reply) job?.reject(new Error(`crop worker: ${reply.error}`));
      else job?.resolve(reply.outcome);
      queue.shift()?.();
    });
    worker.on('error', (err) => {
      failure = err;
      for (const job of busy.values()) job.reject(err);
      busy.clear();
    });
  }
  return {
    parallel: threads,
    async crop(image: RgbImage): Promise<CropOutcome> {
      if (failure) throw failure;
      if (idle.length === 0) await new Promise<void>((resume) => queue.push(resume));
      const worker = idle.pop()!;
      const outcome = new Promise<CropOutcome>((resolve, reject) => busy.set(worker, { resolve, reject }));
      // Copied, not transferred: sharp's buffer may share its memory with others.
      worker.postMessage({ image } satisfies CropRequest);
      return outcome;
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
