import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** The video element itself (read at once, on this thread), or a copy of one of its frames that can wait. */
export type Frame = HTMLVideoElement | ImageBitmap;
type FrameCallback = (frame: Frame) => Promise<void>;
/** Copies the video's current frame, e.g. `createImageBitmap(video)` for a worker. */
export type FrameCapture = (video: HTMLVideoElement) => Promise<ImageBitmap>;

/** Missing in older Safari and Firefox builds, which get `requestAnimationFrame` instead. */
const HAS_VIDEO_FRAME_CALLBACK = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;

/**
 * Calls `onFrame` for new video frames: through `requestVideoFrameCallback` where the browser has it (one call
 * per decoded frame), else `requestAnimationFrame`. It never queues. Without `capture`, `onFrame` gets the video
 * element, and a frame that arrives while the previous one is still being processed is skipped. With `capture`,
 * every new frame is copied, and while one is in flight the newest copy waits, replacing (and closing) any older
 * one: the next frame starts the moment the last is done, and is never stale. It stops scheduling, and drops the
 * waiting frame, while the tab is hidden. `stop` forgets the frame in flight, so a frame that never settles (a
 * lost GPU context) cannot hold up the next `start`.
 */
export class FrameLoopController implements ReactiveController {
  /** Frames skipped or replaced because the previous one was still in flight. */
  skipped = 0;
  private video?: HTMLVideoElement;
  private capture?: FrameCapture;
  private inFlight?: Promise<void>;
  private waiting?: ImageBitmap;
  private capturing = false;
  /** Bumped by `stop`, so a capture that settles afterwards is closed instead of analysed. */
  private epoch = 0;
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

  start(video: HTMLVideoElement, capture?: FrameCapture): void {
    if (this.video === video && this.capture === capture) return;
    this.stop();
    this.video = video;
    this.capture = capture;
    this.lastTime = -1;
    this.schedule();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.video = undefined;
    this.inFlight = undefined;
    this.dropWaiting();
    this.capturing = false;
    this.epoch++;
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
    // Without a copy only the video's current frame exists, so a frame that cannot start now is lost; so is one
    // that arrives while the previous copy is still being made (a few milliseconds).
    if ((this.inFlight && !this.capture) || this.capturing) {
      this.skipped++;
      return;
    }
    this.lastTime = video.currentTime;
    if (this.capture) this.copy(video, this.capture);
    else this.process(video);
  };

  private copy(video: HTMLVideoElement, capture: FrameCapture): void {
    const epoch = this.epoch;
    this.capturing = true;
    capture(video).then(
      (bitmap) => {
        if (epoch !== this.epoch) {
          bitmap.close();
          return;
        }
        this.capturing = false;
        if (!this.inFlight) {
          this.process(bitmap);
          return;
        }
        if (this.waiting) this.skipped++;
        this.dropWaiting();
        // Hidden meanwhile: no frame is analysed until the tab is shown again.
        if (document.hidden) bitmap.close();
        else this.waiting = bitmap;
      },
      (err) => {
        if (epoch !== this.epoch) return;
        this.capturing = false;
        this.onError(err);
      },
    );
  }

  private process(frame: Frame): void {
    const done = this.onFrame(frame)
      .catch(this.onError)
      .finally(() => {
        if (this.inFlight !== done) return;
        this.inFlight = undefined;
        const next = this.waiting;
        this.waiting = undefined;
        if (next) this.process(next);
      });
    this.inFlight = done;
  }

  private dropWaiting(): void {
    this.waiting?.close();
    this.waiting = undefined;
  }

  private readonly onVisibility = (): void => {
    if (document.hidden) {
      this.cancel?.();
      this.cancel = undefined;
      this.dropWaiting();
    } else {
      this.schedule();
    }
  };
}
