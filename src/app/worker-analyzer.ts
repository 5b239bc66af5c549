import type { ModelMetadata } from '../core/metadata';
import type { Caution } from '../core/settings';
import type { TrackerOptions } from '../core/tracking';
import type { FromWorker, ToWorker } from './engine-protocol';
import type { AnalyzeRequest, Analyzer, FrameAnalysis } from './face-analyzer';
import type { BackendName, ImageInput } from './face-engine';

/** This browser cannot run the face engine in a worker: the main thread has to. */
export class WorkerUnavailable extends Error {}

type Ready = Extract<FromWorker, { type: 'ready' }>;

interface Pending {
  resolve: (analysis: FrameAnalysis) => void;
  reject: (error: Error) => void;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The face engine and tracker in a dedicated worker (engine-worker.ts), behind the same surface as the main-thread
 * TrackingAnalyzer. Images cross as transferred ImageBitmaps; the caller sends one frame at a time
 * (FrameLoopController holds the newest waiting one).
 */
export class WorkerAnalyzer implements Analyzer {
  readonly inWorker = true;
  readonly backend: string;
  readonly metadata: ModelMetadata;
  readonly backends: readonly BackendName[];
  private readonly canLoseContext: boolean;
  private readonly pending = new Map<number, Pending>();
  private readonly lostListeners = new Set<() => void>();
  private nextId = 1;
  private disposed = false;

  private constructor(
    private readonly worker: Worker,
    ready: Ready,
  ) {
    this.backend = ready.backend;
    this.metadata = ready.metadata;
    this.backends = ready.backends;
    this.canLoseContext = ready.canLoseContext;
    worker.addEventListener('message', this.onMessage);
    worker.addEventListener('error', this.onError);
  }

  /**
   * Starts the worker and loads the models in it. Throws WorkerUnavailable when the browser cannot run it (no
   * module workers, OffscreenCanvas or createImageBitmap, or the worker's script fails to start), and the models'
   * own error when they cannot load there.
   */
  static async start(
    order: readonly BackendName[] | undefined,
    trackerOptions: Partial<TrackerOptions>,
  ): Promise<WorkerAnalyzer> {
    const missing = ['Worker', 'OffscreenCanvas', 'createImageBitmap'].filter((name) => !(name in globalThis));
    if (missing.length > 0) throw new WorkerUnavailable(`this browser has no ${missing.join(', ')}`);
    let worker: Worker;
    try {
      worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'face-engine' });
    } catch (err) {
      throw new WorkerUnavailable(`the worker could not start (${messageOf(err)})`);
    }
    try {
      const ready = await new Promise<Ready>((resolve, reject) => {
        worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
          if (data.type === 'ready') resolve(data);
          else if (data.type === 'failed') reject(new Error(data.message));
        };
        // Module workers the browser cannot run, or a script that fails to load, end here.
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new WorkerUnavailable(`the worker could not start (${event.message || 'its script did not run'})`));
        };
        const load: ToWorker = { type: 'load', order, trackerOptions };
        worker.postMessage(load);
      });
      worker.onmessage = null;
      worker.onerror = null;
      return new WorkerAnalyzer(worker, ready);
    } catch (err) {
      worker.terminate();
      throw err;
    }
  }

  /** Takes ownership of an ImageBitmap (transferred); anything else is copied into one first. */
  async analyze(image: ImageInput, request: AnalyzeRequest): Promise<FrameAnalysis> {
    const frame = image instanceof ImageBitmap ? image : await createImageBitmap(image);
    if (this.disposed) {
      frame.close();
      throw new Error('the face engine was stopped');
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type: 'analyze', id, frame, ...request }, [frame]);
    });
  }

  setCaution(caution: Caution): void {
    this.post({ type: 'caution', caution });
  }

  resetTracks(): void {
    this.post({ type: 'reset' });
  }

  onLost(listener: () => void): void {
    this.lostListeners.add(listener);
  }

  loseContext(): boolean {
    if (this.canLoseContext) this.post({ type: 'lose-context' });
    return this.canLoseContext;
  }

  /** Ends the worker, its models and its GPU context with it; frames still in flight fail. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.worker.terminate();
    this.lostListeners.clear();
    this.rejectAll(new Error('the face engine was stopped'));
  }

  private post(message: ToWorker, transfer: Transferable[] = []): void {
    if (!this.disposed) this.worker.postMessage(message, transfer);
  }

  private rejectAll(error: Error): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  private readonly onMessage = ({ data }: MessageEvent<FromWorker>): void => {
    if (data.type === 'lost') {
      for (const listener of this.lostListeners) listener();
      this.lostListeners.clear();
      return;
    }
    if (data.type !== 'result' && data.type !== 'error') return;
    const pending = this.pending.get(data.id);
    this.pending.delete(data.id);
    if (data.type === 'result') pending?.resolve(data.analysis);
    else pending?.reject(new Error(data.message));
  };

  /** An exception the worker did not catch: the frames in flight will not be answered. */
  private readonly onError = (event: ErrorEvent): void => {
    event.preventDefault();
    this.rejectAll(new Error(`the face engine's worker failed: ${event.message}`));
  };
}
