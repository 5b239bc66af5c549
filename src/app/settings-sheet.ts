import { css, html, LitElement, nothing } from 'lit';
import { customElement, property, query } from 'lit/decorators.js';
import type { LabelPolicy } from '../core/labels';
import { labelledFrom, labelPolicy, type Caution, type Settings } from '../core/settings';
import type { CameraDevice } from './camera-controller';

/** One drop-down of the sheet: every choice with a fixed list of values is one of these. */
interface Choice<T extends string> {
  name: string;
  label: string;
  value: T;
  options: readonly { value: T; text: string }[];
  /** Read after the label by screen readers (`aria-describedby`). */
  hint?: string;
  choose(value: T): void;
}

const CAUTION_OPTIONS: readonly { value: Caution; text: string }[] = [
  { value: 'off', text: 'Off' },
  { value: 'normal', text: 'Normal' },
  { value: 'cautious', text: 'Cautious' },
];

/** What a caution level does, with the model's numbers once it has loaded. */
function cautionHint(caution: Caution, model: LabelPolicy | undefined): string {
  if (caution === 'off') return 'Every face gets the likelier label, however close the call; never "uncertain".';
  const rule = caution === 'normal' ? "the model's own margin" : "twice the model's margin";
  const from = model && labelledFrom(labelPolicy(caution, model));
  return from
    ? `A face is labelled only when the label is at least ${from} likely (${rule}); otherwise "uncertain".`
    : `A face is labelled only when the label is likely enough (${rule}); otherwise "uncertain".`;
}

/** Fired with the settings that changed; the app stores and applies them at once. */
export type SettingsChangeEvent = CustomEvent<Partial<Settings>>;

/**
 * The settings sheet: a modal `<dialog>` holding a labelled form. Every change applies at once (the sheet leaves the
 * picture visible, so its effect shows); Done, Escape or a click beside the sheet close it, and focus goes back to
 * the button that opened it.
 */
@customElement('settings-sheet')
export class SettingsSheet extends LitElement {
  static override styles = css`
    dialog {
      box-sizing: border-box;
      width: min(100%, 30rem);
      max-width: 100%;
      margin: auto auto 0;
      /* Clear of a phone's home indicator (the page is laid out edge to edge: viewport-fit=cover). */
      padding: 1rem 1.25rem calc(1.25rem + env(safe-area-inset-bottom));
      border: 0;
      border-radius: 0.75rem 0.75rem 0 0;
      color: #eceef2;
      background: #1b1e26;
      box-shadow: 0 -4px 24px #0008;
      font:
        15px/1.4 system-ui,
        sans-serif;
    }
    /* At the bottom on every screen, so most of the picture stays in view while a change takes effect. */
    @media (min-width: 40rem) {
      dialog {
        margin-bottom: 1rem;
        border-radius: 0.75rem;
      }
    }
    dialog::backdrop {
      background: #0006;
    }
    h2 {
      margin: 0 0 0.75rem;
      font-size: 1.1rem;
    }
    form {
      display: grid;
      gap: 1rem;
    }
    .field {
      display: grid;
      gap: 0.3rem;
    }
    label {
      font-weight: 600;
    }
    .check {
      display: flex;
      align-items: center;
      gap: 0.5rem;
    }
    p {
      margin: 0;
      font-size: 0.85rem;
      color: #9aa1b0;
    }
    select,
    button {
      font: inherit;
      padding: 0.4rem 0.6rem;
      border: 1px solid #4a5160;
      border-radius: 0.4rem;
      color: inherit;
      background: #232733;
    }
    input[type='checkbox'] {
      width: 1.2rem;
      height: 1.2rem;
      margin: 0;
    }
    button {
      justify-self: end;
      padding: 0.4rem 1.2rem;
      cursor: pointer;
    }
    select:focus-visible,
    button:focus-visible,
    input:focus-visible {
      outline: 3px solid #4fb3ff;
      outline-offset: 2px;
    }
  `;

  @property({ attribute: false }) settings!: Settings;
  /** The cameras to choose from; the choice is offered only when there are two or more. */
  @property({ attribute: false }) cameras: readonly CameraDevice[] = [];
  /** The camera shown as chosen: the one in use when the camera runs. */
  @property() cameraId?: string;
  /** The model's own label policy, for the caution levels' numbers; undefined while the model loads. */
  @property({ attribute: false }) modelPolicy?: LabelPolicy;
  /** False when the browser refuses to store the settings. */
  @property({ type: Boolean }) persistent = true;

  @query('dialog') private dialog!: HTMLDialogElement;
  private opener?: HTMLElement;

  /** Opens the sheet; `opener` gets focus back when it closes. */
  show(opener: HTMLElement): void {
    this.opener = opener;
    this.dialog.showModal();
  }

  override render() {
    const { caution, showPercent } = this.settings;
    return html`
      <dialog aria-labelledby="settings-title" closedby="any" @close=${this.onClose}>
        <form method="dialog">
          <h2 id="settings-title">Settings</h2>
          ${
            this.cameras.length >= 2
              ? this.renderSelect({
                  name: 'camera',
                  label: 'Camera',
                  value: this.cameraId ?? this.cameras[0].deviceId,
                  options: this.cameras.map((c) => ({ value: c.deviceId, text: c.label })),
                  choose: (cameraId) => this.change({ cameraId }),
                })
              : nothing
          }
          ${this.renderSelect({
            name: 'caution',
            label: 'How cautious labels are',
            value: caution,
            options: CAUTION_OPTIONS,
            hint: cautionHint(caution, this.modelPolicy),
            choose: (value) => this.change({ caution: value }),
          })}
          <div class="check">
            <input
              id="show-percent"
              type="checkbox"
              .checked=${showPercent}
              @change=${(e: Event) => this.change({ showPercent: (e.target as HTMLInputElement).checked })}
            />
            <label for="show-percent">Show the confidence percentage ("male 88%", not just "male")</label>
          </div>
          <p>
            ${
              this.persistent
                ? 'Changes apply at once and are kept on this device only.'
                : 'Changes apply at once. This browser does not let the app store them, so they last until you close it.'
            }
          </p>
          <button>Done</button>
        </form>
      </dialog>
    `;
  }

  private renderSelect<T extends string>(choice: Choice<T>) {
    const hintId = `${choice.name}-hint`;
    return html`<div class="field">
      <label for=${choice.name}>${choice.label}</label>
      <select
        id=${choice.name}
        aria-describedby=${choice.hint ? hintId : nothing}
        @change=${(e: Event) => choice.choose((e.target as HTMLSelectElement).value as T)}
      >
        ${choice.options.map((o) => html`<option value=${o.value} .selected=${o.value === choice.value}>${o.text}</option>`)}
      </select>
      ${choice.hint ? html`<p id=${hintId}>${choice.hint}</p>` : nothing}
    </div>`;
  }

  private change(change: Partial<Settings>): void {
    this.dispatchEvent(new CustomEvent('settings-change', { detail: change }));
  }

  // Not every browser gives focus back to the opener when a dialog closes.
  private readonly onClose = (): void => {
    this.opener?.focus();
    this.opener = undefined;
  };
}

declare global {
  interface HTMLElementTagNameMap {
    'settings-sheet': SettingsSheet;
  }
}
