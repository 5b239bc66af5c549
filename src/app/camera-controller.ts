import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { cameraProblem, classifyCameraError, type CameraProblem } from '../core/camera-errors';

/** A camera the browser lists; `label` is the browser's name for it, or "Camera 2" when it gives none. */
export interface CameraDevice {
  deviceId: string;
  label: string;
}

export type CameraState =
  | { status: 'off' }
  | { status: 'starting' }
  | { status: 'live'; stream: MediaStream; mirrored: boolean }
  | { status: 'error'; problem: CameraProblem };

/** 640×480 is plenty for BlazeFace's 128×128 input and keeps per-frame pixel reads cheap. */
const PREFERRED = { width: { ideal: 640 }, height: { ideal: 480 } };

/**
 * The camera over `getUserMedia`: opens the chosen camera, else the front one, with `ideal` size constraints,
 * relaxes them once when they cannot be met (a chosen camera that is gone included), turns every failure (and a
 * track that ends mid-stream) into a `CameraProblem` state, and lists the cameras so a choice is only offered when
 * there is something to choose.
 */
export class CameraController implements ReactiveController {
  state: CameraState = { status: 'off' };
  cameras: CameraDevice[] = [];
  /** Bumped by every start and stop, so a slow `getUserMedia` that was superseded releases its stream. */
  private generation = 0;

  /** `chosen` gives the `deviceId` of the camera the user chose, read at every start; undefined: the front one. */
  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly chosen: () => string | undefined,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    navigator.mediaDevices?.addEventListener('devicechange', this.listCameras);
  }

  hostDisconnected(): void {
    navigator.mediaDevices?.removeEventListener('devicechange', this.listCameras);
    this.stop();
  }

  /** The camera in use: the chosen one, or whichever the browser opened instead. */
  get activeDeviceId(): string | undefined {
    return this.state.status === 'live' ? this.state.stream.getVideoTracks()[0]?.getSettings().deviceId : undefined;
  }

  /** The camera after the one in use, in the browser's order, for "Switch camera". */
  get nextDeviceId(): string | undefined {
    const i = this.cameras.findIndex((c) => c.deviceId === this.activeDeviceId);
    return this.cameras[(i + 1) % this.cameras.length]?.deviceId;
  }

  async start(): Promise<void> {
    this.releaseStream();
    const generation = ++this.generation;
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      this.set({ status: 'error', problem: cameraProblem('insecure') });
      return;
    }
    this.set({ status: 'starting' });
    let stream: MediaStream;
    try {
      stream = await this.open(this.chosen());
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
    await this.listCameras();
  }

  stop(): void {
    this.generation++;
    this.releaseStream();
    this.set({ status: 'off' });
  }

  private async open(deviceId: string | undefined): Promise<MediaStream> {
    try {
      return await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { ...PREFERRED, ...(deviceId ? { deviceId: { exact: deviceId } } : { facingMode: { ideal: 'user' } }) },
      });
    } catch (err) {
      if ((err as Error).name !== 'OverconstrainedError') throw err;
      return navigator.mediaDevices.getUserMedia({ audio: false, video: true });
    }
  }

  private readonly listCameras = async (): Promise<void> => {
    const devices = await navigator.mediaDevices.enumerateDevices();
    // Before the camera is allowed, deviceIds are empty: there is nothing to choose by.
    this.cameras = devices
      .filter((d) => d.kind === 'videoinput' && d.deviceId !== '')
      .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `Camera ${i + 1}` }));
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
