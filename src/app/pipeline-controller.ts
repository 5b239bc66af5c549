import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { describeFaces } from '../core/announce';
import type { Box } from '../core/geometry';
import { verdict, type GenderLabel, type LabelPolicy, type Verdict } from '../core/labels';
import { DEFAULT_SETTINGS, formatLabel, labelPolicy, type LabelSettings } from '../core/settings';
import { FrameStats, type StageSummary } from '../core/stats';
import { FaceTracker, type TrackedFace, type TrackerOptions } from '../core/tracking';
import type { Analysis, FaceEngine, ImageInput } from './face-engine';
import { FrameLoopController } from './frame-loop-controller';

/** The live region is re-read by screen readers on every change; faster than this is noise. */
const ANNOUNCE_INTERVAL_MS = 500;

/** Frames kept in the debug hook's log: enough for a test to read its first 300 frames. */
const LOG_FRAMES = 1000;

export interface LabelledFace {
  /** In pixels of the analysed image. */
  box: Box;
  /** Undefined while a live face has not settled: it shows a neutral box and is not announced (FaceTracker). */
  verdict?: Verdict;
  /** "female 93%", "male 88%" (or "male" with the percentage hidden), "uncertain", or "…" without a verdict. */
  text: string;
  /** The same number for the same face from frame to frame (live only). */
  track?: number;
}

/** What the view shows of one analysed frame or photo. */
export interface LabelledFrame {
  faces: LabelledFace[];
  width: number;
  height: number;
}

export interface FrameRecord {
  frame: number;
  faces: { track: number; label: GenderLabel | 'pending' }[];
  timings: Analysis['timings'];
}

/** What end-to-end tests read from `window.__facesense`; nothing else is exposed. */
export interface DebugHook {
  /** The backend of the engine in use: it changes when a lost GPU context makes the app load the models again. */
  backend: string;
  /** Frames analysed since the page loaded, and camera frames skipped because one was in flight. */
  frames: number;
  skipped: number;
  /** Frames or photos whose analysis failed. */
  errors: number;
  /** Live tensors after the engine's first analysed frame and after the latest one. */
  tensorsAfterFirstFrame: number;
  tensors: number;
  /** Faces detected and faces classified since the page loaded: their ratio is the work tracking saves. */
  detected: number;
  classified: number;
  /** `performance.now()` when the first face was shown with a label (a settled face, not "…"). */
  firstLabelAt: number;
  /** The latest frames: the label shown for each track, and the stage times (ms). */
  log: FrameRecord[];
  stages(): Record<string, StageSummary>;
  /** Loses the models' WebGL context as a GPU reset would, for tests; false when they do not run on WebGL. */
  loseContext(): boolean;
}

declare global {
  interface Window {
    __facesense?: DebugHook;
  }
}

/**
 * Runs the face engine over camera frames (through a FrameLoopController) or over one photo, and keeps what the
 * view shows: the latest analysis, per-stage timings, and the sentence for the live region.
 */
export class PipelineController implements ReactiveController {
  engine?: FaceEngine;
  analysis?: LabelledFrame;
  announcement = '';
  error?: string;
  readonly stats = new FrameStats();
  private readonly loop: FrameLoopController;
  private lastAnnounced = -Infinity;
  private hook?: DebugHook;
  /** Bumped when the source changes, so a result for the previous source is dropped. */
  private generation = 0;
  /** Replaced when the source changes, so a frame still in flight cannot touch the new source's tracks. */
  private tracker?: FaceTracker;
  /** The user's caution level and label text (settings sheet). */
  private labels: LabelSettings = DEFAULT_SETTINGS;

  /** `trackerOptions` tune how live faces are followed and how often they are classified again. */
  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly trackerOptions: Partial<TrackerOptions> = {},
  ) {
    host.addController(this);
    this.loop = new FrameLoopController(
      host,
      (video) => this.run(video, false),
      (err) => this.fail(err),
    );
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    delete window.__facesense;
  }

  /** The counters of the debug hook carry over from a previous engine; the tensor baseline starts again. */
  setEngine(engine: FaceEngine): void {
    this.engine = engine;
    const stats = this.stats;
    this.hook ??= {
      backend: engine.backend,
      frames: 0,
      skipped: 0,
      errors: 0,
      tensorsAfterFirstFrame: -1,
      tensors: -1,
      detected: 0,
      classified: 0,
      firstLabelAt: -1,
      log: [],
      stages: () => Object.fromEntries(stats.stageNames().map((s) => [s, stats.summary(s)])),
      loseContext: () => {
        const extension = this.engine?.webglContext?.getExtension('WEBGL_lose_context');
        extension?.loseContext();
        return extension != null;
      },
    };
    this.hook.backend = engine.backend;
    this.hook.tensorsAfterFirstFrame = -1;
    window.__facesense = this.hook;
    this.host.requestUpdate();
  }

  /** Lets go of an engine that can no longer run (its GPU context was lost): nothing is analysed until the next. */
  detach(): void {
    this.engine = undefined;
    this.stop();
  }

  /**
   * Labels faces from the next frame on with the user's settings. A new caution level starts a new tracker, so
   * live faces settle again under the new band (a few frames of "…"); a photo takes them when analysed again.
   */
  setLabels(labels: LabelSettings): void {
    const cautionChanged = labels.caution !== this.labels.caution;
    this.labels = { caution: labels.caution, showPercent: labels.showPercent };
    if (cautionChanged && this.engine && this.tracker)
      this.tracker = new FaceTracker(this.policy(this.engine), this.trackerOptions);
  }

  get following(): boolean {
    return this.loop.running;
  }

  /** Analyses every new frame of `video` until `stop()`. */
  follow(video: HTMLVideoElement): void {
    if (!this.engine || this.loop.running) return;
    this.reset();
    this.loop.start(video);
  }

  /** Analyses one still image. */
  async analyzeOnce(image: ImageInput): Promise<void> {
    this.stop();
    await this.run(image, true);
  }

  stop(): void {
    this.loop.stop();
    this.reset();
  }

  private reset(): void {
    this.generation++;
    this.tracker = this.engine && new FaceTracker(this.policy(this.engine), this.trackerOptions);
    this.analysis = undefined;
    // The faces of the previous source are gone; the live region must not keep reading them out.
    this.announcement = '';
    this.error = undefined;
    this.stats.clear();
    this.host.requestUpdate();
  }

  /** Like its result, the error of a frame from a previous source or engine is dropped. */
  private run(image: ImageInput, still: boolean): Promise<void> {
    const generation = this.generation;
    return this.process(image, generation, still).catch((err) => {
      if (generation === this.generation) this.fail(err);
    });
  }

  /**
   * Live frames go through the tracker, which picks the faces to classify and smooths each face's label; a photo
   * (`still`) gets every face classified and labelled from that result alone.
   */
  private async process(image: ImageInput, generation: number, still: boolean): Promise<void> {
    const engine = this.engine;
    if (!engine) return;
    const tracker = still ? undefined : this.tracker;
    const now = performance.now();
    let tracked: TrackedFace[] = [];
    const analysis = await engine.analyze(image, {
      still,
      select: tracker && ((boxes) => (tracked = tracker.update(boxes, now)).map((f) => f.classify)),
    });
    if (generation !== this.generation) return;
    const probabilities = analysis.faces.map((f) => f.probability);
    const verdicts = tracker
      ? tracker.label(tracked, probabilities, now)
      : // Every face of a photo is classified.
        probabilities.map((p) => verdict(p as number, this.policy(engine)));
    const faces = analysis.faces.map(({ box }, i) => ({
      box,
      verdict: verdicts[i],
      text: formatLabel(verdicts[i], this.labels.showPercent),
      track: tracked[i]?.track,
    }));
    this.analysis = { faces, width: analysis.width, height: analysis.height };
    this.error = undefined;
    const done = performance.now();
    if (this.hook) this.record(this.hook, engine, faces, probabilities, analysis.timings, done);
    const { capture, detect, classify } = analysis.timings;
    this.stats.add({ capture, detect, classify, total: capture + detect + classify }, done);
    const sentence = describeFaces(faces.map((f) => f.verdict && f.text));
    if (
      sentence !== undefined &&
      sentence !== this.announcement &&
      (still || done - this.lastAnnounced >= ANNOUNCE_INTERVAL_MS)
    ) {
      this.announcement = sentence;
      this.lastAnnounced = done;
    }
    this.host.requestUpdate();
  }

  private policy(engine: FaceEngine): LabelPolicy {
    return labelPolicy(this.labels.caution, engine.metadata.policy);
  }

  private record(
    hook: DebugHook,
    engine: FaceEngine,
    faces: readonly LabelledFace[],
    probabilities: readonly (number | undefined)[],
    timings: Analysis['timings'],
    now: number,
  ): void {
    hook.frames++;
    hook.skipped = this.loop.skipped;
    hook.tensors = engine.numTensors();
    if (hook.tensorsAfterFirstFrame < 0) hook.tensorsAfterFirstFrame = hook.tensors;
    const classified = probabilities.filter((p) => p !== undefined).length;
    hook.detected += faces.length;
    hook.classified += classified;
    if (hook.firstLabelAt < 0 && faces.some((f) => f.verdict)) hook.firstLabelAt = now;
    hook.log.push({
      frame: hook.frames,
      faces: faces.map((f) => ({ track: f.track ?? -1, label: f.verdict?.label ?? 'pending' })),
      timings,
    });
    if (hook.log.length > LOG_FRAMES) hook.log.shift();
  }

  private fail(err: unknown): void {
    this.error = err instanceof Error ? err.message : String(err);
    if (this.hook) this.hook.errors++;
    this.host.requestUpdate();
  }
}
