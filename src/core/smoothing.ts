import type { Box } from './geometry';
import { verdict, type GenderLabel, type LabelPolicy, type Verdict } from './labels';

/**
 * Weight of a new sample in exponential smoothing after `dtMs`, for time constant `tauMs`: 1 − e^(−dt/τ). Defined
 * by time rather than per frame, so the label settles equally fast at 5 fps and at 60 fps.
 */
export function smoothingAlpha(dtMs: number, tauMs: number): number {
  return dtMs > 0 ? 1 - Math.exp(-dtMs / tauMs) : 0;
}

/** Exponential smoothing of a value sampled at irregular times (ms, any monotonic clock). */
export class ExponentialSmoother {
  constructor(
    private readonly tauMs: number,
    public value: number,
    private time: number,
  ) {}

  /** Moves toward `sample` by the share of the time constant elapsed since the last update; returns the value. */
  update(sample: number, now: number): number {
    this.value += smoothingAlpha(now - this.time, this.tauMs) * (sample - this.value);
    this.time = now;
    return this.value;
  }
}

/**
 * The verdict for `probabilityMale`, except that the `previous` label is kept while the probability is within
 * `margin` of that label's range: a probability hovering at a boundary does not make the label flicker.
 */
export function stableVerdict(
  probabilityMale: number,
  previous: GenderLabel | undefined,
  policy: LabelPolicy,
  margin: number,
): Verdict {
  const v = verdict(probabilityMale, policy);
  if (previous === undefined || v.label === previous) return v;
  const near = [probabilityMale - margin, probabilityMale + margin].some((p) => verdict(p, policy).label === previous);
  return near ? { ...v, label: previous } : v;
}

/** How a live face's box is smoothed over frames (`BoxSmoother`). */
export interface BoxSmoothing {
  /** Time constant for a face at rest. */
  restTauMs: number;
  /** Cutoff frequency (Hz) added per face width per second that the face moves. */
  speedGain: number;
  /** Time constant of the smoothing of the velocity, so that a box jumping back and forth does not count as motion. */
  speedTauMs: number;
}

export const DEFAULT_BOX_SMOOTHING: BoxSmoothing = { restTauMs: 300, speedGain: 2, speedTauMs: 150 };

/**
 * A face's box smoothed over frames as the 1€ filter smooths a pointer (Casiez et al., CHI 2012). The detector
 * looks at a live frame through a different view each frame, and each view places a face's box a few pixels
 * apart: at rest the box is smoothed with `restTauMs`, which hides that. The faster the face moves, in face widths
 * per second so that near and far faces are treated alike, the higher the cutoff, so a moving box keeps up.
 */
export class BoxSmoother {
  /** The box's smoothed velocity: centre x, centre y and width, in px/s. Signed, so that jitter averages out. */
  private velocity: [number, number, number] = [0, 0, 0];

  constructor(
    private readonly settings: BoxSmoothing,
    private box: Box,
    private time: number,
  ) {}

  /** Moves toward `sample`, taken at `now` (ms), as far as the face's speed allows; returns the smoothed box. */
  update(sample: Box, now: number): Box {
    const dt = now - this.time;
    if (dt <= 0) return this.box;
    const { restTauMs, speedGain, speedTauMs } = this.settings;
    const b = this.box;
    const change = [
      sample.x + sample.width / 2 - (b.x + b.width / 2),
      sample.y + sample.height / 2 - (b.y + b.height / 2),
      sample.width - b.width,
    ];
    const w = smoothingAlpha(dt, speedTauMs);
    this.velocity = this.velocity.map((old, i) => old + w * ((change[i] * 1000) / dt - old)) as typeof this.velocity;
    const cutoffHz = 1000 / (2 * Math.PI * restTauMs) + (speedGain * Math.hypot(...this.velocity)) / b.width;
    const a = smoothingAlpha(dt, 1000 / (2 * Math.PI * cutoffHz));
    const mix = (from: number, to: number) => from + a * (to - from);
    this.box = {
      x: mix(b.x, sample.x),
      y: mix(b.y, sample.y),
      width: mix(b.width, sample.width),
      height: mix(b.height, sample.height),
    };
    this.time = now;
    return this.box;
  }
}
