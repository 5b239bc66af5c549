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

export interface CropRequest {
  id: number;
  image: RgbImage;
}

export type CropReply = { id: number; outcome: CropOutcome } | { id: number; error: string };

const init = workerData as CropWorkerInit;
await initTrainingBackend(init.backend === 'cpu' ? 'cpu' : 'wasm');
const detector = await loadBlazeFace(blazeFaceModels());
const port = parentPort!;

port.on('message', ({ id, image }: CropRequest) => {
  detectAndCrop(image, detector, init.settings).then(
    (outcome) =>
      port.postMessage(
        { id, outcome } satisfies CropReply,
        'pixels' in outcome ? [outcome.pixels.buffer as ArrayBuffer] : [],
      ),
    (err: Error) => port.postMessage({ id, error: err.stack ?? err.message } satisfies CropReply),
  );
});
port.postMessage('ready');
