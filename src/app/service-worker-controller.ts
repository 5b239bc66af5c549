import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { registerSW } from 'virtual:pwa-register';

/** The "ready to work offline" notice is news once; it goes away by itself. */
const OFFLINE_NOTICE_MS = 5000;

/**
 * Registers the service worker (vite-plugin-pwa, `registerType: 'prompt'`, through workbox-window) and surfaces
 * its two moments: the first time everything is precached ("ready to work offline") and a new version waiting.
 */
export class ServiceWorkerController implements ReactiveController {
  offlineReady = false;
  needRefresh = false;
  private updateServiceWorker?: (reloadPage?: boolean) => Promise<void>;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {
    this.updateServiceWorker ??= registerSW({
      immediate: true,
      onOfflineReady: () => {
        this.set({ offlineReady: true });
        setTimeout(() => this.set({ offlineReady: false }), OFFLINE_NOTICE_MS);
      },
      onNeedRefresh: () => this.set({ needRefresh: true }),
      onRegisterError: (err: unknown) => console.warn('service worker registration failed', err),
    });
  }

  /** Activates the waiting worker; the page reloads once it controls it. */
  reload(): void {
    void this.updateServiceWorker?.(true);
  }

  dismiss(): void {
    this.set({ offlineReady: false, needRefresh: false });
  }

  private set(change: Partial<Pick<ServiceWorkerController, 'offlineReady' | 'needRefresh'>>): void {
    Object.assign(this, change);
    this.host.requestUpdate();
  }
}
