import * as tf from '@tensorflow/tfjs-core';

/**
 * Activates the first backend in `order` that starts. Backends must already be registered (by importing
 * `@tensorflow/tfjs-backend-*`). Returns the name in use; throws if none starts.
 */
export async function initBackend(order: readonly string[]): Promise<string> {
  const failures: string[] = [];
  for (const name of order) {
    if (!tf.findBackendFactory(name)) {
      failures.push(`${name}: not registered`);
      continue;
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
      failures.push(`${name}: failed to initialise`);
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no tfjs backend could start (${failures.join('; ')})`);
}
