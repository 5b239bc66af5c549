import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { DEFAULT_SETTINGS, parseSettings, serializeSettings, type Settings } from '../core/settings';

/** The localStorage key; the value is `serializeSettings`' JSON. */
export const SETTINGS_KEY = 'facesense.settings';

/**
 * The user's settings over `localStorage`: read when the host connects, before its first render, and written on
 * every change. Nothing leaves the device. A browser that refuses storage (some private modes, storage turned off)
 * still gets the choices for as long as the page is open, and `persistent` says so.
 */
export class SettingsController implements ReactiveController {
  value: Settings = DEFAULT_SETTINGS;
  persistent = true;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {
    let stored: string | null = null;
    try {
      stored = localStorage.getItem(SETTINGS_KEY);
    } catch {
      this.persistent = false;
    }
    this.value = parseSettings(stored);
  }

  update(change: Partial<Settings>): void {
    this.value = { ...this.value, ...change };
    try {
      localStorage.setItem(SETTINGS_KEY, serializeSettings(this.value));
    } catch {
      this.persistent = false;
    }
    this.host.requestUpdate();
  }
}
