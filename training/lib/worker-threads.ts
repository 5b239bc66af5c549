import { Worker } from 'node:worker_threads';

/** Starts a worker thread and resolves once it posts its first message (it is ready), or rejects if it fails first. */
export async function startWorker(url: URL, workerData: unknown): Promise<Worker> {
  const worker = new Worker(url, { workerData });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return worker;
}
