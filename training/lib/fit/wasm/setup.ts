import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core's Node bundle ships without gradient definitions; tfjs-layers' bundle registers them in the shared registry.
import '@tensorflow/tfjs-layers';
import { initBackend } from '../../../../src/vision/backend';
import { registerWasmTrainingKernels } from './grad-kernels';

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
  try {
    return await initBackend(['wasm']);
  } catch (err) {
    console.warn(
      `[training] wasm backend unavailable (${(err as Error).message}); falling back to cpu, expect training ~100x slower`,
    );
    return initBackend(['cpu']);
  }
}
