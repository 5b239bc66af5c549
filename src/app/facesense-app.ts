import { css, html, LitElement, nothing, unsafeCSS } from 'lit';
import { customElement, query, state } from 'lit/decorators.js';
import { classMap } from 'lit/directives/class-map.js';
import { live } from 'lit/directives/live.js';
import { orderAfterContextLoss } from '../core/context-loss';
import type { TrackerOptions } from '../core/tracking';
import { CameraController } from './camera-controller';
import type { Analyzer } from './face-analyzer';
import type { BackendName } from './face-engine';
import './face-overlay';
import { InstallController } from './install-controller';
import { PipelineController } from './pipeline-controller';
import { ServiceWorkerController } from './service-worker-controller';
import { SettingsController } from './settings-controller';
import './settings-sheet';
import type { SettingsChangeEvent, SettingsSheet } from './settings-sheet';
import { WorkerAnalyzer, WorkerUnavailable } from './worker-analyzer';

/** How video and photo fill the stage; the overlay maps boxes with the same value. */
const FIT = 'contain';
/** Photos are scaled down to this side before analysis: the detector sees 128×128 and crops are 64×64. */
const MAX_PHOTO_SIDE = 1920;

type Mode = 'camera' | 'photo';
type EngineState =
  { status: 'loading' } | { status: 'ready'; analyzer: Analyzer } | { status: 'failed'; message: string };

/**
 * `?backend=webgl|wasm|cpu` forces one backend; `?backend=webgpu` tries WebGPU first, then the usual order. By
 * default the best that starts.
 */
function backendOrder(): BackendName[] | undefined {
  const forced = new URLSearchParams(location.search).get('backend');
  if (forced === 'webgpu') return ['webgpu', 'webgl', 'wasm', 'cpu'];
  return forced === 'webgl' || forced === 'wasm' || forced === 'cpu' ? [forced] : undefined;
}

/**
 * The face engine runs in a worker, so inference never blocks the page; `?worker=off` runs it on the main thread
 * instead, as browsers that cannot run the worker do, for tests and comparisons.
 */
function workerWanted(): boolean {
  return new URLSearchParams(location.search).get('worker') !== 'off';
}

/**
 * `?reclassify=always` classifies every face on every frame instead of only when its box changed or its result
 * aged: for measuring what that scheduling saves.
 */
function trackerOptions(): Partial<TrackerOptions> {
  return new URLSearchParams(location.search).get('reclassify') === 'always' ? { reclassifyMs: 0 } : {};
}

@customElement('facesense-app')
export class FacesenseApp extends LitElement {
  static override styles = css`
    :host {
      display: grid;
      grid-template-rows: auto 1fr auto auto;
      height: 100dvh;
      color: #eceef2;
      background: #111318;
      font:
        15px/1.4 system-ui,
        sans-serif;
    }
    header,
    .bar,
    footer {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 0.5rem;
      padding: 0.5rem 0.75rem;
    }
    h1 {
      margin: 0 auto 0 0;
      font-size: 1.1rem;
    }
    .stage {
      position: relative;
      min-height: 0;
      background: #000;
      overflow: hidden;
    }
    .stage.dragging {
      outline: 3px dashed #4fb3ff;
      outline-offset: -6px;
    }
    video,
    canvas.photo {
      position: absolute;
      inset: 0;
      width: 100%;
      height: 100%;
      object-fit: ${unsafeCSS(FIT)};
    }
    .mirrored {
      transform: scaleX(-1);
    }
    .panel {
      position: absolute;
      inset: 0;
      display: grid;
      place-content: center;
      justify-items: center;
      gap: 0.75rem;
      padding: 1.5rem;
      text-align: center;
      background: #111318;
    }
    .panel h2 {
      margin: 0;
      font-size: 1.2rem;
    }
    .panel p {
      margin: 0;
      max-width: 34rem;
      color: #c5c9d3;
    }
    button {
      font: inherit;
      padding: 0.4rem 0.9rem;
      border: 1px solid #4a5160;
      border-radius: 0.4rem;
      color: inherit;
      background: #232733;
      cursor: pointer;
    }
    button:hover {
      background: #2e3443;
    }
    button:focus-visible {
      outline: 3px solid #4fb3ff;
      outline-offset: 2px;
    }
    .notice {
      margin-left: auto;
      color: #ffd27a;
    }
    .stats {
      margin-left: auto;
      font-variant-numeric: tabular-nums;
      color: #c5c9d3;
    }
    footer {
      font-size: 0.85rem;
      color: #9aa1b0;
    }
    .toast {
      position: fixed;
      left: 50%;
      bottom: 1rem;
      transform: translateX(-50%);
      display: flex;
      align-items: center;
      gap: 0.75rem;
      padding: 0.6rem 0.9rem;
      border-radius: 0.5rem;
      background: #2b3142;
      box-shadow: 0 4px 16px #0008;
    }
    .visually-hidden {
      position: absolute;
      width: 1px;
      height: 1px;
      overflow: hidden;
      clip-path: inset(50%);
      white-space: nowrap;
    }
  `;

  private readonly settings = new SettingsController(this);
  private readonly camera = new CameraController(this, () => this.settings.value.cameraId);
  private readonly pipeline = new PipelineController(this);
  private readonly serviceWorker = new ServiceWorkerController(this);
  private readonly installer = new InstallController(this);

  @state() private mode: Mode = 'camera';
  @state() private engineState: EngineState = { status: 'loading' };
  @state() private photoError?: string;
  @state() private dragging = false;
  /** Why the app changed under the user's feet, e.g. a lost GPU context; read out politely. */
  @state() private notice?: string;
  @query('video') private video?: HTMLVideoElement;
  @query('canvas.photo') private photoCanvas?: HTMLCanvasElement;
  @query('input[type=file]') private fileInput!: HTMLInputElement;
  @query('settings-sheet') private sheet!: SettingsSheet;
  private engineLoading?: Promise<unknown>;
  /** GPU context losses so far, per backend. */
  private readonly contextLosses = new Map<string, number>();
  /** Cleared when the worker cannot run here: from then on the engine runs on the main thread. */
  private useWorker = workerWanted();

  override firstUpdated(): void {
    this.pipeline.setLabels(this.settings.value);
    void this.camera.start();
    this.engineLoading = this.loadEngine();
  }

  // In willUpdate, not updated: starting or stopping the pipeline changes state this same update renders.
  override willUpdate(): void {
    const live = this.mode === 'camera' && this.camera.state.status === 'live';
    if (live && this.video && this.engineState.status === 'ready') this.pipeline.follow(this.video);
    else if (this.mode === 'camera' && this.pipeline.following) this.pipeline.stop();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.engineState.status === 'ready') this.engineState.analyzer.dispose();
  }

  override render() {
    // Lit re-sets object-valued properties on every render, which would restart the video; `live` compares first.
    const cam = this.camera.state;
    const mirrored = this.mode === 'camera' && cam.status === 'live' && cam.mirrored;
    const analysis = this.pipeline.analysis;
    return html`
      <header>
        <h1>FaceSense</h1>
        ${this.installer.available ? html`<button @click=${() => this.installer.install()}>Install app</button>` : nothing}
        <button aria-haspopup="dialog" @click=${(e: Event) => this.sheet.show(e.currentTarget as HTMLElement)}>
          Settings
        </button>
      </header>
      <main
        class=${classMap({ stage: true, dragging: this.dragging })}
        @dragover=${this.onDragOver}
        @dragleave=${() => (this.dragging = false)}
        @drop=${this.onDrop}
      >
        ${
          this.mode === 'camera'
            ? html`<video
                class=${classMap({ mirrored })}
                .srcObject=${live(cam.status === 'live' ? cam.stream : null)}
                autoplay
                muted
                playsinline
                aria-label="Camera picture"
              ></video>`
            : html`<canvas class="photo" role="img" aria-label="Opened photo"></canvas>`
        }
        <face-overlay
          .faces=${analysis?.faces ?? []}
          .sourceWidth=${analysis?.width ?? 0}
          .sourceHeight=${analysis?.height ?? 0}
          .fit=${FIT}
          ?mirrored=${mirrored}
        ></face-overlay>
        ${this.renderPanel()}
      </main>
      <!-- A named region, so the status line is inside a landmark like the rest of the page. -->
      <section class="bar" aria-label="Controls and status">
        ${
          this.mode === 'camera' && cam.status === 'live' && this.camera.cameras.length >= 2
            ? html`<button @click=${() => this.chooseCamera(this.camera.nextDeviceId)}>Switch camera</button>`
            : nothing
        }
        <button @click=${() => this.fileInput.click()}>Open photo</button>
        ${this.mode === 'photo' ? html`<button @click=${this.backToCamera}>Back to camera</button>` : nothing}
        <input type="file" accept="image/*" hidden @change=${this.onFileChosen} />
        <span class="notice" role="status">
          ${this.notice ?? nothing}
          ${this.pipeline.error ? html`<span>Could not analyse the picture: ${this.pipeline.error}</span>` : nothing}
        </span>
        <span class="stats">${this.statusLine()}</span>
      </section>
      <footer>
        <span>
          Everything runs on this device: the camera picture and your photos are never uploaded, and the app sends
          nothing anywhere.
        </span>
        ${this.engineState.status === 'ready' ? html`<span>Model ${this.engineState.analyzer.metadata.version}</span>` : nothing}
      </footer>
      <p role="status" aria-live="polite" class="visually-hidden">${this.pipeline.announcement}</p>
      ${this.renderToast()}
      <settings-sheet
        .settings=${this.settings.value}
        .cameras=${this.camera.cameras}
        .cameraId=${this.camera.activeDeviceId ?? this.settings.value.cameraId}
        .modelPolicy=${this.engineState.status === 'ready' ? this.engineState.analyzer.metadata.policy : undefined}
        ?persistent=${this.settings.persistent}
        @settings-change=${this.onSettingsChange}
      ></settings-sheet>
    `;
  }

  /** Stores the change and applies it at once: new labels from the next frame (a photo is analysed again). */
  private readonly onSettingsChange = (event: SettingsChangeEvent): void => {
    const { cameraId, ...labels } = event.detail;
    if (cameraId !== undefined) this.chooseCamera(cameraId);
    if (Object.keys(labels).length === 0) return;
    this.settings.update(labels);
    this.pipeline.setLabels(this.settings.value);
    if (this.mode === 'photo' && this.photoCanvas && !this.photoError) void this.pipeline.analyzeOnce(this.photoCanvas);
  };

  /** Remembers the camera and, unless a photo is shown, switches to it. */
  private chooseCamera(cameraId: string | undefined): void {
    this.settings.update({ cameraId });
    if (this.mode === 'camera') void this.camera.start();
  }

  private renderPanel() {
    if (this.engineState.status === 'failed') {
      return html`<section class="panel" role="alert">
        <h2>The face models could not load</h2>
        <p>${this.engineState.message}</p>
        <button @click=${() => location.reload()}>Reload</button>
      </section>`;
    }
    if (this.mode === 'photo') {
      return this.photoError
        ? html`<section class="panel" role="alert">
            <h2>That photo could not be opened</h2>
            <p>${this.photoError}</p>
            <button @click=${this.backToCamera}>Back to camera</button>
          </section>`
        : nothing;
    }
    const cam = this.camera.state;
    if (cam.status === 'error') {
      return html`<section class="panel" role="alert" data-problem=${cam.problem.kind}>
        <h2>${cam.problem.title}</h2>
        <p>${cam.problem.help}</p>
        <div>
          <button @click=${() => this.camera.start()}>Try again</button>
          <button @click=${() => this.fileInput.click()}>Open a photo instead</button>
        </div>
      </section>`;
    }
    if (cam.status === 'starting' || this.engineState.status === 'loading') {
      return html`<section class="panel" aria-busy="true">
        <p>${cam.status === 'starting' ? 'Starting the camera…' : 'Loading the face models…'}</p>
      </section>`;
    }
    return nothing;
  }

  private renderToast() {
    if (this.serviceWorker.needRefresh) {
      return html`<div class="toast" role="alert">
        <span>New version available</span>
        <button @click=${() => this.serviceWorker.reload()}>Reload</button>
        <button @click=${() => this.serviceWorker.dismiss()}>Later</button>
      </div>`;
    }
    if (this.serviceWorker.offlineReady) {
      return html`<div class="toast" role="status"><span>Ready to work offline</span></div>`;
    }
    return nothing;
  }

  private statusLine(): string {
    if (this.engineState.status !== 'ready') return '';
    const parts: string[] = [];
    if (this.mode === 'camera') parts.push(`${this.pipeline.stats.fps().toFixed(1)} fps`);
    for (const stage of ['detect', 'classify']) {
      const { median } = this.pipeline.stats.summary(stage);
      parts.push(`${stage} ${Number.isNaN(median) ? '–' : median.toFixed(0)} ms`);
    }
    const { backend, inWorker } = this.engineState.analyzer;
    parts.push(inWorker ? backend : `${backend} on the main thread`);
    const faces = this.pipeline.analysis?.faces.length ?? 0;
    parts.push(faces === 1 ? '1 face' : `${faces} faces`);
    return parts.join(' · ');
  }

  private async loadEngine(order = backendOrder()): Promise<Analyzer | undefined> {
    try {
      const analyzer = await this.startAnalyzer(order);
      analyzer.onLost(() => (this.engineLoading = this.recover(analyzer)));
      this.pipeline.setAnalyzer(analyzer);
      this.engineState = { status: 'ready', analyzer };
      return analyzer;
    } catch (err) {
      this.engineState = { status: 'failed', message: err instanceof Error ? err.message : String(err) };
      return undefined;
    }
  }

  /** In the worker where the browser can run it, else on the main thread (the status line says which). */
  private async startAnalyzer(order: BackendName[] | undefined): Promise<Analyzer> {
    if (this.useWorker) {
      try {
        return await WorkerAnalyzer.start(order, trackerOptions());
      } catch (err) {
        if (!(err instanceof WorkerUnavailable)) throw err;
        console.warn(`The face models run on the main thread: ${err.message}.`);
        this.useWorker = false;
      }
    }
    // Only this fallback loads tfjs on the main thread.
    const { TrackingAnalyzer } = await import('./face-analyzer');
    return TrackingAnalyzer.load(order, trackerOptions());
  }

  /**
   * A lost GPU context took the models' weights with it. Without reloading the page, the models are loaded again
   * (the service worker has them cached) on a new context, or off the GPU when it keeps failing. A worker is ended
   * and a new one started, with a tfjs and a context of its own.
   */
  private async recover(analyzer: Analyzer): Promise<void> {
    this.pipeline.detach();
    analyzer.dispose();
    const losses = (this.contextLosses.get(analyzer.backend) ?? 0) + 1;
    this.contextLosses.set(analyzer.backend, losses);
    this.engineState = { status: 'loading' };
    this.notice = 'The graphics context was lost; loading the face models again…';
    const order = orderAfterContextLoss(analyzer.backend as BackendName, losses, analyzer.backends);
    const next = await this.loadEngine(order);
    this.notice = next
      ? `The graphics context was lost; now running on ${next.backend}`
      : 'The graphics context was lost.';
    if (next && this.mode === 'photo' && this.photoCanvas) await this.pipeline.analyzeOnce(this.photoCanvas);
  }

  private readonly onDragOver = (event: DragEvent): void => {
    event.preventDefault();
    this.dragging = true;
  };

  private readonly onDrop = (event: DragEvent): void => {
    event.preventDefault();
    this.dragging = false;
    const file = event.dataTransfer?.files[0];
    if (file) void this.openPhoto(file);
  };

  private readonly onFileChosen = (): void => {
    const file = this.fileInput.files?.[0];
    this.fileInput.value = '';
    if (file) void this.openPhoto(file);
  };

  private readonly backToCamera = (): void => {
    this.mode = 'camera';
    this.photoError = undefined;
    this.pipeline.stop();
    void this.camera.start();
  };

  private async openPhoto(file: File): Promise<void> {
    this.mode = 'photo';
    this.photoError = undefined;
    this.pipeline.stop();
    this.camera.stop();
    let bitmap: ImageBitmap;
    try {
      if (!file.type.startsWith('image/')) throw new Error(`${file.name || 'The file'} is not an image.`);
      bitmap = await createImageBitmap(file);
    } catch (err) {
      this.photoError = err instanceof Error ? err.message : String(err);
      return;
    }
    await this.updateComplete;
    const canvas = this.photoCanvas;
    if (!canvas) return;
    const scale = Math.min(1, MAX_PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    await this.engineLoading;
    await this.pipeline.analyzeOnce(canvas);
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'facesense-app': FacesenseApp;
  }
}
