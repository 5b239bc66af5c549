/** The messages between the main thread (WorkerAnalyzer) and the face engine's worker (engine-worker.ts). */
import type { ModelMetadata } from '../core/metadata';
import type { Caution } from '../core/settings';
import type { TrackerOptions } from '../core/tracking';
import type { AnalyzeRequest, FrameAnalysis } from './face-analyzer';
import type { BackendName } from './face-engine';

export type ToWorker =
  /** Sent once, first: the backends to try, best first (undefined: the engine's default order). */
  | { type: 'load'; order?: readonly BackendName[]; trackerOptions: Partial<TrackerOptions> }
  /** `frame` is transferred; the worker closes it once analysed. */
  | ({ type: 'analyze'; id: number; frame: ImageBitmap } & AnalyzeRequest)
  | { type: 'caution'; caution: Caution }
  | { type: 'reset' }
  | { type: 'lose-context' };

export type FromWorker =
  | {
      type: 'ready';
      backend: string;
      metadata: ModelMetadata;
      backends: readonly BackendName[];
      /** WEBGL_lose_context is there: the models run on WebGL. */
      canLoseContext: boolean;
    }
  /** The models could not load (no backend started, or the model failed its integrity check). */
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; analysis: FrameAnalysis }
  | { type: 'error'; id: number; message: string }
  /** The worker's WebGL context was lost: the engine cannot run any more. */
  | { type: 'lost' };
