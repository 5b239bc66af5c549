import type { Box } from '../core/geometry';
import { verdict, type LabelPolicy, type Verdict } from '../core/labels';
import type { ModelMetadata } from '../core/metadata';
import { DEFAULT_SETTINGS, labelPolicy, type Caution } from '../core/settings';
import { FaceTracker, type TrackedFace, type TrackerOptions } from '../core/tracking';
import { BACKENDS, FaceEngine, type Analysis, type BackendName, type ImageInput } from './face-engine';

/** One face of an analysed frame or photo. */
export interface AnalyzedFace {
  /** In pixels of the analysed image. */
  box: Box;
  /** The classifier's output on this frame; undefined when the tracker did not ask for it. */
  probability?: number;
  /** Undefined while a live face has not settled (FaceTracker). */
  verdict?: Verdict;
  /** The same number for the same face from frame to frame (live only). */
  track?: number;
}

export interface FrameAnalysis {
  faces: AnalyzedFace[];
  width: number;
  height: number;
  timings: Analysis['timings'];
  /** Tensors alive on the engine's backend once the frame is done: flat from frame to frame when nothing leaks. */
  tensors: number;
}

export interface AnalyzeRequest {
  /** A photo: every face is classified and labelled from that result alone, without tracking. */
  still: boolean;
  /** When the frame was captured, in ms of `performance.timeOrigin + performance.now()`: one clock for both threads. */
  at: number;
}

/** What the pipeline drives: the face engine and the tracker, in a worker (WorkerAnalyzer) or on this thread. */
export interface Analyzer {
  readonly backend: string;
  readonly metadata: ModelMetadata;
  /** Every backend the engine knows, best first: where to go when a GPU context keeps getting lost. */
  readonly backends: readonly BackendName[];
  /** Frames cross to a worker as transferred ImageBitmaps; false for the main-thread engine. */
  readonly inWorker: boolean;
  analyze(image: ImageInput, request: AnalyzeRequest): Promise<FrameAnalysis>;
  /** The "uncertain" band from the next frame on; live faces settle again under it. */
  setCaution(caution: Caution): void;
  /** Forgets every track: the source changed. */
  resetTracks(): void;
  /** Called once if the GPU context is lost: stop analysing, dispose this analyzer and load another. */
  onLost(listener: () => void): void;
  /** Loses the WebGL context as a GPU reset would, for tests; false when the models do not run on WebGL. */
  loseContext(): boolean;
  dispose(): void;
}

/**
 * The face engine with the FaceTracker and the user's caution level: it picks the faces to classify between
 * detection and classification, and turns results into verdicts. The worker runs one; so does the main thread when
 * there is no worker.
 */
export class TrackingAnalyzer implements Analyzer {
  readonly inWorker = false;
  readonly backends = BACKENDS;
  private caution: Caution = DEFAULT_SETTINGS.caution;
  private policy: LabelPolicy;
  private tracker: FaceTracker;

  private constructor(
    readonly engine: FaceEngine,
    private readonly trackerOptions: Partial<TrackerOptions>,
  ) {
    this.policy = labelPolicy(this.caution, engine.metadata.policy);
    this.tracker = new FaceTracker(this.policy, trackerOptions);
  }

  static async load(
    order: readonly BackendName[] | undefined,
    trackerOptions: Partial<TrackerOptions>,
  ): Promise<TrackingAnalyzer> {
    return new TrackingAnalyzer(await FaceEngine.load(order), trackerOptions);
  }

  get backend(): string {
    return this.engine.backend;
  }

  get metadata(): ModelMetadata {
    return this.engine.metadata;
  }

  async analyze(image: ImageInput, { still, at }: AnalyzeRequest): Promise<FrameAnalysis> {
    // Taken now: a frame still in flight when the source or the caution changes keeps its own tracker.
    const tracker = still ? undefined : this.tracker;
    const policy = this.policy;
    let tracked: TrackedFace[] = [];
    const analysis = await this.engine.analyze(image, {
      still,
      select: tracker && ((boxes) => (tracked = tracker.update(boxes, at)).map((f) => f.classify)),
    });
    const probabilities = analysis.faces.map((f) => f.probability);
    const verdicts = tracker
      ? tracker.label(tracked, probabilities, at)
      : // Every face of a photo is classified.
        probabilities.map((p) => verdict(p as number, policy));
    return {
      faces: analysis.faces.map(({ box, probability }, i) => ({
        // A live face shows its box smoothed over frames; the classifier cropped this frame's.
        box: tracked[i]?.shown ?? box,
        probability,
        verdict: verdicts[i],
        track: tracked[i]?.track,
      })),
      width: analysis.width,
      height: analysis.height,
      timings: analysis.timings,
      tensors: this.engine.numTensors(),
    };
  }

  setCaution(caution: Caution): void {
    if (caution === this.caution) return;
    this.caution = caution;
    this.policy = labelPolicy(caution, this.engine.metadata.policy);
    this.resetTracks();
  }

  resetTracks(): void {
    this.tracker = new FaceTracker(this.policy, this.trackerOptions);
  }

  onLost(listener: () => void): void {
    this.engine.onLost(listener);
  }

  loseContext(): boolean {
    const extension = this.engine.webglContext?.getExtension('WEBGL_lose_context');
    extension?.loseContext();
    return extension != null;
  }

  dispose(): void {
    this.engine.dispose();
  }
}
