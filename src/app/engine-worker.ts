/**
 * The face engine's dedicated worker: loads the models, then analyses the frames the main thread transfers, one at a
 * time (WorkerAnalyzer never sends a second while one is in flight), and runs the FaceTracker between detection and
 * classification, so a frame needs no round trip to the main thread.
 */
import type { FromWorker, ToWorker } from './engine-protocol';
import { TrackingAnalyzer } from './face-analyzer';

let analyzer: TrackingAnalyzer | undefined;
/**
 * wasm and cpu need the pixels in memory. tfjs would read them through a 2D context of its own, made without
 * `willReadFrequently` in a worker, so every frame's read-back would stall a GPU-backed canvas; this one is kept
 * on the CPU. WebGL and WebGPU upload the bitmap straight into a texture instead.
 */
let reader: OffscreenCanvasRenderingContext2D | undefined;

const post = (message: FromWorker): void => self.postMessage(message);
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

self.addEventListener('message', (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'load':
      void load(message);
      break;
    case 'analyze':
      void analyze(message);
      break;
    case 'caution':
      analyzer?.setCaution(message.caution);
      break;
    case 'reset':
      analyzer?.resetTracks();
      break;
    case 'lose-context':
      analyzer?.loseContext();
      break;
  }
});

async function load({ order, trackerOptions }: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  try {
    const loaded = await TrackingAnalyzer.load(order, trackerOptions);
    analyzer = loaded;
    loaded.onLost(() => post({ type: 'lost' }));
    post({
      type: 'ready',
      backend: loaded.backend,
      metadata: loaded.metadata,
      backends: loaded.backends,
      canLoseContext: loaded.engine.webglContext?.getExtension('WEBGL_lose_context') != null,
    });
  } catch (err) {
    post({ type: 'failed', message: messageOf(err) });
  }
}

async function analyze({ id, frame, still, at }: Extract<ToWorker, { type: 'analyze' }>): Promise<void> {
  try {
    if (!analyzer) throw new Error('the face models are not loaded');
    const started = performance.now();
    const onCpu = analyzer.backend === 'wasm' || analyzer.backend === 'cpu';
    const image = onCpu ? readPixels(frame) : frame;
    const read = performance.now() - started;
    const analysis = await analyzer.analyze(image, { still, at });
    analysis.timings.capture += read;
    post({ type: 'result', id, analysis });
  } catch (err) {
    post({ type: 'error', id, message: messageOf(err) });
  } finally {
    frame.close();
  }
}

function readPixels(frame: ImageBitmap): ImageData {
  reader ??= new OffscreenCanvas(frame.width, frame.height).getContext('2d', { willReadFrequently: true }) ?? undefined;
  if (!reader) throw new Error('this browser cannot read pixels in a worker (no OffscreenCanvas 2D context)');
  const { canvas } = reader;
  if (canvas.width !== frame.width || canvas.height !== frame.height) {
    canvas.width = frame.width;
    canvas.height = frame.height;
  }
  reader.drawImage(frame, 0, 0);
  return reader.getImageData(0, 0, frame.width, frame.height);
}
