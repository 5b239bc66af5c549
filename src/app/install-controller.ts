import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** Chromium's install prompt event; not in TypeScript's DOM types. */
interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<void>;
  readonly userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

/** Holds back the browser's `beforeinstallprompt` so the app can offer installing from its own button. */
export class InstallController implements ReactiveController {
  private deferred?: BeforeInstallPromptEvent;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  get available(): boolean {
    return this.deferred !== undefined;
  }

  hostConnected(): void {
    window.addEventListener('beforeinstallprompt', this.onPrompt);
    window.addEventListener('appinstalled', this.onInstalled);
  }

  hostDisconnected(): void {
    window.removeEventListener('beforeinstallprompt', this.onPrompt);
    window.removeEventListener('appinstalled', this.onInstalled);
  }

  async install(): Promise<void> {
    const event = this.deferred;
    if (!event) return;
    // A prompt event can be used once, whatever the user answers.
    this.deferred = undefined;
    this.host.requestUpdate();
    await event.prompt();
    await event.userChoice;
  }

  private readonly onPrompt = (event: Event): void => {
    event.preventDefault();
    this.deferred = event as BeforeInstallPromptEvent;
    this.host.requestUpdate();
  };

  private readonly onInstalled = (): void => {
    this.deferred = undefined;
    this.host.requestUpdate();
  };
}
