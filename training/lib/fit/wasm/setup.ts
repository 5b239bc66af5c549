import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core's Node bundle ships without gradient definitions; tfjs-layers' bundle registers them in the shared registry.
import '@tensorflow/tfjs-layers';
import { initBackend } from '../../../../src/vision/backend';
import { registerWasmTrainingKernels } from './grad-kernels';

/**
 * Set to '1' by `npm run bench:train -- --baseline` while it times the kernels that grad-kernels.ts replaced: worker
 * threads copy the environment when they start, so theirs switch too.
 */
export const BASELINE_KERNELS_ENV = 'TRAINING_BASELINE_KERNELS';

/**
 * Starts the backend used for training in Node and returns its name. wasm (with the training kernels that
 * tfjs 4.22 lacks or gets wrong) is preferred; when it cannot start, training falls back to the much slower cpu
 * backend with a warning rather than failing.
 *
 * wasm runs single-threaded: tfjs loads its pthread workers from `blob:` URLs, which Node's worker_threads
 * cannot start, and patching that loader is too fragile to rely on.
 */
export async function initTrainingBackend(prefer: 'wasm' | 'cpu' = 'wasm'): Promise<string> {
  if (prefer === 'cpu') return initBackend(['cpu']);
  registerWasmTrainingKernels();
  if (process.env[BASELINE_KERNELS_ENV] === '1') (await import('./baseline-kernels')).registerBaselineKernels();
  try {
    return await initBackend(['wasm']);
  } catch (err) {
    console.warn(
      `[training] wasm backend unavailable (${(err as Error).message}); falling back to cpu, expect training ~100x slower`,
    );
    return initBackend(['cpu']);
  }
}
