import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { cameraProblem, classifyCameraError, type CameraProblem } from '../core/camera-errors';

export type Facing = 'user' | 'environment';

export type CameraState =
  | { status: 'off' }
  | { status: 'starting' }
  | { status: 'live'; stream: MediaStream; mirrored: boolean }
  | { status: 'error'; problem: CameraProblem };

/** 640×480 is plenty for BlazeFace's 128×128 input and keeps per-frame pixel reads cheap. */
const PREFERRED = { width: { ideal: 640 }, height: { ideal: 480 } };

/**
 * The camera over `getUserMedia`: asks with `ideal` constraints only, relaxes them once when they cannot be met,
 * turns every failure (and a track that ends mid-stream) into a `CameraProblem` state, and counts the cameras so
 * the switch button only appears when there is something to switch to.
 */
export class CameraController implements ReactiveController {
  state: CameraState = { status: 'off' };
  facing: Facing = 'user';
  cameraCount = 0;
  /** Bumped by every start and stop, so a slow `getUserMedia` that was superseded releases its stream. */
  private generation = 0;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {
    navigator.mediaDevices?.addEventListener('devicechange', this.countCameras);
  }

  hostDisconnected(): void {
    navigator.mediaDevices?.removeEventListener('devicechange', this.countCameras);
    this.stop();
  }

  async start(facing: Facing = this.facing): Promise<void> {
    this.releaseStream();
    const generation = ++this.generation;
    this.facing = facing;
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      this.set({ status: 'error', problem: cameraProblem('insecure') });
      return;
    }
    this.set({ status: 'starting' });
    let stream: MediaStream;
    try {
      stream = await this.open(facing);
    } catch (err) {
      if (generation === this.generation) this.set({ status: 'error', problem: classifyCameraError(err) });
      return;
    }
    if (generation !== this.generation) {
      stopTracks(stream);
      return;
    }
    const [track] = stream.getVideoTracks();
    // `ended` fires when the device goes away (unplugged, revoked, taken), never for our own `stop()`.
    track.addEventListener('ended', () => {
      if (generation === this.generation) this.set({ status: 'error', problem: cameraProblem('ended') });
    });
    // Only a camera known to face away is shown unmirrored; laptop webcams often report no facing mode.
    this.set({ status: 'live', stream, mirrored: track.getSettings().facingMode !== 'environment' });
    await this.countCameras();
  }

  switchCamera(): Promise<void> {
    return this.start(this.facing === 'user' ? 'environment' : 'user');
  }

  stop(): void {
    this.generation++;
    this.releaseStream();
    this.set({ status: 'off' });
  }

  private async open(facing: Facing): Promise<MediaStream> {
    try {
      return await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { ...PREFERRED, facingMode: { ideal: facing } },
      });
    } catch (err) {
      if ((err as Error).name !== 'OverconstrainedError') throw err;
      return navigator.mediaDevices.getUserMedia({ audio: false, video: true });
    }
  }

  private readonly countCameras = async (): Promise<void> => {
    const devices = await navigator.mediaDevices.enumerateDevices();
    this.cameraCount = devices.filter((d) => d.kind === 'videoinput').length;
    this.host.requestUpdate();
  };

  private releaseStream(): void {
    if (this.state.status === 'live') stopTracks(this.state.stream);
  }

  private set(state: CameraState): void {
    this.state = state;
    this.host.requestUpdate();
  }
}

function stopTracks(stream: MediaStream): void {
  for (const track of stream.getTracks()) track.stop();
}
