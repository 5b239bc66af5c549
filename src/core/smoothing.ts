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
