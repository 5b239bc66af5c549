import { css, html, LitElement } from 'lit';
import { customElement, property, query } from 'lit/decorators.js';
import type { GenderLabel } from '../core/labels';
import { mapBox, viewTransform, type ObjectFit } from '../core/viewport';
import type { LabelledFace } from './pipeline-controller';

const COLOURS: Record<GenderLabel, string> = { female: '#ff6fb5', male: '#4fb3ff', uncertain: '#d0d0d0' };
/** A face without a label yet: dimmer than "uncertain" and dashed, so it reads as "still looking". */
const PENDING_COLOUR = '#9aa1b0';
const PENDING_DASH = [6, 4];

/**
 * Draws a box and a label on every face, over a video or image element of the same size. Boxes come in source
 * pixels; `fit` and `mirrored` must match how the element below shows its source, so the boxes land on the faces.
 */
@customElement('face-overlay')
export class FaceOverlay extends LitElement {
  static override styles = css`
    :host {
      position: absolute;
      inset: 0;
      pointer-events: none;
    }
    canvas {
      width: 100%;
      height: 100%;
    }
  `;

  @property({ attribute: false }) faces: readonly LabelledFace[] = [];
  @property({ type: Number }) sourceWidth = 0;
  @property({ type: Number }) sourceHeight = 0;
  @property() fit: ObjectFit = 'contain';
  @property({ type: Boolean }) mirrored = false;

  @query('canvas') private canvas!: HTMLCanvasElement;
  private readonly resizeObserver = new ResizeObserver(() => this.draw());

  override connectedCallback(): void {
    super.connectedCallback();
    this.resizeObserver.observe(this);
  }

  override disconnectedCallback(): void {
    this.resizeObserver.disconnect();
    super.disconnectedCallback();
  }

  override render() {
    return html`<canvas aria-hidden="true"></canvas>`;
  }

  protected override updated(): void {
    this.draw();
  }

  private draw(): void {
    const canvas = this.canvas;
    if (!canvas) return;
    const { clientWidth: width, clientHeight: height } = this;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const t = viewTransform(
      { width: this.sourceWidth, height: this.sourceHeight },
      { width, height },
      this.fit,
      this.mirrored,
    );
    const fontSize = Math.max(12, Math.min(20, width / 40));
    ctx.font = `600 ${fontSize}px system-ui, sans-serif`;
    ctx.textBaseline = 'bottom';
    ctx.lineWidth = 3;
    for (const face of this.faces) {
      const b = mapBox(face.box, t);
      const colour = face.verdict ? COLOURS[face.verdict.label] : PENDING_COLOUR;
      ctx.strokeStyle = colour;
      ctx.setLineDash(face.verdict ? [] : PENDING_DASH);
      ctx.strokeRect(b.x, b.y, b.width, b.height);
      const pad = 4;
      const labelWidth = ctx.measureText(face.text).width + 2 * pad;
      const labelHeight = fontSize + 2 * pad;
      // Above the box, or inside its top edge when the box touches the top of the view.
      const top = b.y - labelHeight >= 0 ? b.y - labelHeight : b.y;
      ctx.fillStyle = colour;
      ctx.fillRect(b.x - 1.5, top, labelWidth, labelHeight);
      ctx.fillStyle = '#111';
      ctx.fillText(face.text, b.x - 1.5 + pad, top + labelHeight - pad);
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'face-overlay': FaceOverlay;
  }
}
