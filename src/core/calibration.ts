/**
 * Post-hoc calibration fitted on a validation split: a temperature that makes "93 %" mean right 93 % of the time,
 * and the band around the threshold shown as "uncertain", kept narrow enough that nearly every face gets a label.
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

/**
 * The widest band (in steps of 0.01, at most 0.49) that still leaves at least `minCoverage` of the faces with a
 * label: the app says "uncertain" only about the few faces it is least sure of, and a face the calibrated model
 * puts at 92 % reads "92 %" unless the data says that is among its least sure.
 */
export function chooseUncertainBand(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold = 0.5,
  minCoverage = 0.97,
): BandChoice {
  let band = 0;
  let stats = confidentStats(probs, labels, threshold, band);
  for (let wider = 0.01; wider <= 0.49; wider = Math.round((wider + 0.01) * 100) / 100) {
    const next = confidentStats(probs, labels, threshold, wider);
    if (next.coverage < minCoverage) break;
    [band, stats] = [wider, next];
  }
  return { band, coverage: stats.coverage, precision: stats.precision };
}
