import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { describeFaces } from '../core/announce';
import type { Box } from '../core/geometry';
import type { GenderLabel, Verdict } from '../core/labels';
import { DEFAULT_SETTINGS, formatLabel, type LabelSettings } from '../core/settings';
import { FrameStats, type StageSummary } from '../core/stats';
import type { Analyzer, FrameAnalysis } from './face-analyzer';
import type { ImageInput } from './face-engine';
import { FrameLoopController, type FrameCapture } from './frame-loop-controller';

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
  timings: FrameAnalysis['timings'];
}

/** What end-to-end tests read from `window.__facesense`; nothing else is exposed. */
export interface DebugHook {
  /** The backend of the engine in use: it changes when a lost GPU context makes the app load the models again. */
  backend: string;
  /** The engine runs in a worker (false: on the main thread, as a fallback or with `?worker=off`). */
  inWorker: boolean;
  /** Frames analysed since the page loaded, and camera frames skipped, or replaced while waiting, as one was in flight. */
  frames: number;
  skipped: number;
  /** Frames or photos whose analysis failed. */
  errors: number;
  /** Live tensors after the engine's first analysed frame and after the latest one, counted where it runs. */
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

/** Copies a camera frame for the worker: the copy is transferred, and can wait while another is analysed. */
const copyFrame: FrameCapture = (video) => createImageBitmap(video);

/**
 * Runs the face analyzer over camera frames (through a FrameLoopController) or over one photo, and keeps what the
 * view shows: the latest analysis, per-stage timings, and the sentence for the live region.
 */
export class PipelineController implements ReactiveController {
  analyzer?: Analyzer;
  analysis?: LabelledFrame;
  announcement = '';
  error?: string;
  readonly stats = new FrameStats();
  private readonly loop: FrameLoopController;
  private lastAnnounced = -Infinity;
  private hook?: DebugHook;
  /** Bumped when the source changes, so a result for the previous source is dropped. */
  private generation = 0;
  /** The user's caution level and label text (settings sheet). */
  private labels: LabelSettings = DEFAULT_SETTINGS;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
    this.loop = new FrameLoopController(
      host,
      (frame) => this.run(frame, false),
      (err) => this.fail(err),
    );
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    delete window.__facesense;
  }

  /** The counters of the debug hook carry over from a previous analyzer; the tensor baseline starts again. */
  setAnalyzer(analyzer: Analyzer): void {
    this.analyzer = analyzer;
    analyzer.setCaution(this.labels.caution);
    const stats = this.stats;
    this.hook ??= {
      backend: analyzer.backend,
      inWorker: analyzer.inWorker,
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
      loseContext: () => this.analyzer?.loseContext() ?? false,
    };
    this.hook.backend = analyzer.backend;
    this.hook.inWorker = analyzer.inWorker;
    this.hook.tensorsAfterFirstFrame = -1;
    window.__facesense = this.hook;
    this.host.requestUpdate();
  }

  /** Lets go of an analyzer that can no longer run (its GPU context was lost): nothing is analysed until the next. */
  detach(): void {
    this.analyzer = undefined;
    this.stop();
  }

  /**
   * Labels faces from the next frame on with the user's settings. A new caution level makes the analyzer start its
   * tracks again, so live faces settle again under the new band (a few frames of "…"); a photo takes it when
   * analysed again.
   */
  setLabels(labels: LabelSettings): void {
    if (labels.caution !== this.labels.caution) this.analyzer?.setCaution(labels.caution);
    this.labels = { caution: labels.caution, showPercent: labels.showPercent };
  }

  get following(): boolean {
    return this.loop.running;
  }

  /** Analyses every new frame of `video` until `stop()`. */
  follow(video: HTMLVideoElement): void {
    if (!this.analyzer || this.loop.running) return;
    this.reset();
    this.loop.start(video, this.analyzer.inWorker ? copyFrame : undefined);
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
    this.analyzer?.resetTracks();
    this.analysis = undefined;
    // The faces of the previous source are gone; the live region must not keep reading them out.
    this.announcement = '';
    this.error = undefined;
    this.stats.clear();
    this.host.requestUpdate();
  }

  /** Like its result, the error of a frame from a previous source or analyzer is dropped. */
  private run(image: ImageInput, still: boolean): Promise<void> {
    const generation = this.generation;
    return this.process(image, generation, still).catch((err) => {
      if (generation === this.generation) this.fail(err);
    });
  }

  /**
   * Live frames go through the analyzer's tracker, which picks the faces to classify and smooths each face's label;
   * a photo (`still`) gets every face classified and labelled from that result alone.
   */
  private async process(image: ImageInput, generation: number, still: boolean): Promise<void> {
    const analyzer = this.analyzer;
    if (!analyzer) {
      if (image instanceof ImageBitmap) image.close();
      return;
    }
    const analysis = await analyzer.analyze(image, { still, at: performance.timeOrigin + performance.now() });
    if (generation !== this.generation) return;
    const faces = analysis.faces.map(({ box, verdict, track }) => ({
      box,
      verdict,
      text: formatLabel(verdict, this.labels.showPercent),
      track,
    }));
    this.analysis = { faces, width: analysis.width, height: analysis.height };
    this.error = undefined;
    const done = performance.now();
    if (this.hook) this.record(this.hook, faces, analysis, done);
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

  private record(hook: DebugHook, faces: readonly LabelledFace[], analysis: FrameAnalysis, now: number): void {
    hook.frames++;
    hook.skipped = this.loop.skipped;
    hook.tensors = analysis.tensors;
    if (hook.tensorsAfterFirstFrame < 0) hook.tensorsAfterFirstFrame = hook.tensors;
    const classified = analysis.faces.filter((f) => f.probability !== undefined).length;
    hook.detected += faces.length;
    hook.classified += classified;
    if (hook.firstLabelAt < 0 && faces.some((f) => f.verdict)) hook.firstLabelAt = now;
    hook.log.push({
      frame: hook.frames,
      faces: faces.map((f) => ({ track: f.track ?? -1, label: f.verdict?.label ?? 'pending' })),
      timings: analysis.timings,
    });
    if (hook.log.length > LOG_FRAMES) hook.log.shift();
  }

  private fail(err: unknown): void {
    this.error = err instanceof Error ? err.message : String(err);
    if (this.hook) this.hook.errors++;
    this.host.requestUpdate();
  }
}
