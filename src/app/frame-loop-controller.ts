import type { ReactiveController, ReactiveControllerHost } from 'lit';

type FrameCallback = (video: HTMLVideoElement) => Promise<void>;

/** Missing in older Safari and Firefox builds, which get `requestAnimationFrame` instead. */
const HAS_VIDEO_FRAME_CALLBACK = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;

/**
 * Calls `onFrame` for new video frames: through `requestVideoFrameCallback` where the browser has it (one call
 * per decoded frame), else `requestAnimationFrame`. It never queues: a frame that arrives while the previous one
 * is still being processed is skipped. It stops scheduling while the tab is hidden. `stop` forgets the frame in
 * flight, so a frame that never settles (a lost GPU context) cannot hold up the next `start`.
 */
export class FrameLoopController implements ReactiveController {
  /** Frames skipped because the previous one was still in flight. */
  skipped = 0;
  private video?: HTMLVideoElement;
  private inFlight?: Promise<void>;
  private cancel?: () => void;
  private lastTime = -1;

  constructor(
    host: ReactiveControllerHost,
    private readonly onFrame: FrameCallback,
    private readonly onError: (error: unknown) => void,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  hostDisconnected(): void {
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.stop();
  }

  get running(): boolean {
    return this.video !== undefined;
  }

  start(video: HTMLVideoElement): void {
    if (this.video === video) return;
    this.stop();
    this.video = video;
    this.lastTime = -1;
    this.schedule();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.video = undefined;
    this.inFlight = undefined;
  }

  private schedule(): void {
    const video = this.video;
    if (!video || document.hidden || this.cancel) return;
    if (HAS_VIDEO_FRAME_CALLBACK) {
      const id = video.requestVideoFrameCallback(this.tick);
      this.cancel = () => video.cancelVideoFrameCallback(id);
    } else {
      const id = requestAnimationFrame(this.tick);
      this.cancel = () => cancelAnimationFrame(id);
    }
  }

  private readonly tick = (): void => {
    this.cancel = undefined;
    const video = this.video;
    if (!video) return;
    this.schedule();
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) return;
    // rAF fires once per display refresh, new video frame or not: only a new one counts.
    if (!HAS_VIDEO_FRAME_CALLBACK && video.currentTime === this.lastTime) return;
    if (this.inFlight) {
      this.skipped++;
      return;
    }
    this.lastTime = video.currentTime;
    const frame = this.onFrame(video)
      .catch(this.onError)
      .finally(() => {
        if (this.inFlight === frame) this.inFlight = undefined;
      });
    this.inFlight = frame;
  };

  private readonly onVisibility = (): void => {
    if (document.hidden) {
      this.cancel?.();
      this.cancel = undefined;
    } else {
      this.schedule();
    }
  };
}
