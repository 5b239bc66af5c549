import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { describeFaces } from '../core/announce';
import { FrameStats, type StageSummary } from '../core/stats';
import type { Analysis, FaceEngine, ImageInput } from './face-engine';
import { FrameLoopController } from './frame-loop-controller';

/** The live region is re-read by screen readers on every change; faster than this is noise. */
const ANNOUNCE_INTERVAL_MS = 500;

/** What end-to-end tests read from `window.__facesense`; nothing else is exposed. */
export interface DebugHook {
  backend: string;
  /** Frames analysed since the page loaded, and camera frames skipped because one was in flight. */
  frames: number;
  skipped: number;
  /** Live tensors after the first analysed frame and after the latest one. */
  tensorsAfterFirstFrame: number;
  tensors: number;
  stages(): Record<string, StageSummary>;
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
  analysis?: Analysis;
  announcement = '';
  error?: string;
  readonly stats = new FrameStats();
  private readonly loop: FrameLoopController;
  private lastAnnounced = -Infinity;
  private hook?: DebugHook;
  /** Bumped when the source changes, so a result for the previous source is dropped. */
  private generation = 0;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
    this.loop = new FrameLoopController(
      host,
      (video) => this.process(video, this.generation, false),
      (err) => this.fail(err),
    );
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    delete window.__facesense;
  }

  setEngine(engine: FaceEngine): void {
    this.engine = engine;
    const stats = this.stats;
    this.hook = {
      backend: engine.backend,
      frames: 0,
      skipped: 0,
      tensorsAfterFirstFrame: -1,
      tensors: -1,
      stages: () => Object.fromEntries(stats.stageNames().map((s) => [s, stats.summary(s)])),
    };
    window.__facesense = this.hook;
    this.host.requestUpdate();
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
    await this.process(image, this.generation, true).catch((err) => this.fail(err));
  }

  stop(): void {
    this.loop.stop();
    this.reset();
  }

  private reset(): void {
    this.generation++;
    this.analysis = undefined;
    this.stats.clear();
    this.host.requestUpdate();
  }

  private async process(image: ImageInput, generation: number, announceNow: boolean): Promise<void> {
    if (!this.engine) return;
    const analysis = await this.engine.analyze(image);
    if (generation !== this.generation) return;
    if (this.hook) {
      this.hook.frames++;
      this.hook.skipped = this.loop.skipped;
      this.hook.tensors = this.engine.numTensors();
      if (this.hook.tensorsAfterFirstFrame < 0) this.hook.tensorsAfterFirstFrame = this.hook.tensors;
    }
    this.analysis = analysis;
    this.error = undefined;
    const now = performance.now();
    const { capture, detect, classify } = analysis.timings;
    this.stats.add({ capture, detect, classify, total: capture + detect + classify }, now);
    const sentence = describeFaces(analysis.faces.map((f) => f.text));
    if (sentence !== this.announcement && (announceNow || now - this.lastAnnounced >= ANNOUNCE_INTERVAL_MS)) {
      this.announcement = sentence;
      this.lastAnnounced = now;
    }
    this.host.requestUpdate();
  }

  private fail(err: unknown): void {
    this.error = err instanceof Error ? err.message : String(err);
    this.host.requestUpdate();
  }
}
