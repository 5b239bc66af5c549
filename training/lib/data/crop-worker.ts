/**
 * A worker thread of the crop step: BlazeFace and the app's crop code on its own core (tfjs's wasm backend runs one
 * thread per isolate in Node), on images the main thread reads and decodes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CropSettings } from '../../../src/core/crop';
import { loadBlazeFace } from '../../../src/vision/detector';
import { initTrainingBackend } from '../fit/wasm/setup';
import { blazeFaceModels } from '../node-io';
import type { RgbImage } from './images';
import { detectAndCrop, type CropOutcome } from './prepare-crops';

export interface CropWorkerInit {
  /** The main thread's backend, so that every thread finds the same faces. */
  backend: string;
  settings: CropSettings;
}

/** One image at a time: a worker replies before it is sent the next. */
export interface CropRequest {
  image: RgbImage;
}

export type CropReply = { outcome: CropOutcome } | { error: string };

const init = workerData as CropWorkerInit;
await initTrainingBackend(init.backend === 'cpu' ? 'cpu' : 'wasm');
const detector = await loadBlazeFace(blazeFaceModels());
const port = parentPort!;

port.on('message', ({ image }: CropRequest) => {
  detectAndCrop(image, detector, init.settings).then(
    (outcome) =>
      port.postMessage(
        { outcome } satisfies CropReply,
        'pixels' in outcome ? [outcome.pixels.buffer as ArrayBuffer] : [],
      ),
    (err: Error) => port.postMessage({ error: err.stack ?? err.message } satisfies CropReply),
  );
});
port.postMessage('ready');
