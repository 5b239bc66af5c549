/**
 * Post-hoc calibration fitted on a validation split: a temperature that makes "93 %" mean right 93 % of the time,
 * and the band around the threshold shown as "uncertain" so that the labels shown are precise enough.
 */
import { logLoss } from './metrics';

const clamp = (p: number) => Math.min(1 - 1e-7, Math.max(1e-7, p));

export function temperatureScaled(p: number, temperature: number): number {
  const q = clamp(p);
  return 1 / (1 + Math.exp(-Math.log(q / (1 - q)) / temperature));
}

/** The temperature in [0.05, 20] that minimises log loss, by golden-section search over log T (log loss is unimodal there). */
export function fitTemperature(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  const loss = (logT: number) => {
    const t = Math.exp(logT);
    return logLoss(
      Array.from(probs, (p) => temperatureScaled(p, t)),
      labels,
    );
  };
  const phi = (Math.sqrt(5) - 1) / 2;
  let lo = Math.log(0.05);
  let hi = Math.log(20);
  let a = hi - phi * (hi - lo);
  let b = lo + phi * (hi - lo);
  let fa = loss(a);
  let fb = loss(b);
  for (let i = 0; i < 60; i++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - phi * (hi - lo);
      fa = loss(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + phi * (hi - lo);
      fb = loss(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}

export interface BandChoice {
  /** Half-width of the "uncertain" band around the threshold. */
  band: number;
  /** Share of faces shown with a label at that band. */
  coverage: number;
  /** Lower of the two classes' precision among the labels shown. */
  precision: number;
}

/** Precision of each class and coverage when scores within `band` of `threshold` are withheld. */
export function confidentStats(probs: ArrayLike<number>, labels: ArrayLike<number>, threshold: number, band: number) {
  let shown = 0;
  const right = [0, 0];
  const called = [0, 0];
  for (let i = 0; i < labels.length; i++) {
    if (Math.abs(probs[i] - threshold) < band) continue;
    shown++;
    const predicted = probs[i] >= threshold ? 1 : 0;
    called[predicted]++;
    if (predicted === labels[i]) right[predicted]++;
  }
  const precision = Math.min(...[0, 1].map((c) => (called[c] > 0 ? right[c] / called[c] : 1)));
  return {
    coverage: labels.length > 0 ? shown / labels.length : 0,
    precision,
    accuracy: shown > 0 ? (right[0] + right[1]) / shown : 0,
  };
}

/** The narrowest band (in steps of 0.01, at most 0.49) whose shown labels reach `targetPrecision` for both classes. */
export function chooseUncertainBand(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold = 0.5,
  targetPrecision = 0.98,
): BandChoice {
  let stats = confidentStats(probs, labels, threshold, 0);
  let band = 0;
  while (stats.precision < targetPrecision && band < 0.49) {
    band = Math.round((band + 0.01) * 100) / 100;
    stats = confidentStats(probs, labels, threshold, band);
  }
  return { band, coverage: stats.coverage, precision: stats.precision };
}
