/**
 * Post-hoc calibration fitted on validation data: a temperature that makes "93 %" mean right 93 % of the time, a
 * bias that puts the 0.5 threshold where women and men are recalled alike, and the band around the threshold shown
 * as "uncertain", kept narrow enough that nearly every face gets a label.
 */

/** How the model's probability of "male" becomes the one shown: sigmoid(logit(p) / temperature + bias). */
export interface Calibration {
  temperature: number;
  /** Added to the scaled logit; 0 leaves the model's own balance between the classes. */
  bias: number;
}

/** A score is clipped to [ε, 1 − ε] before its logit, so that a saturated one stays finite. */
export const LOGIT_EPSILON = 1e-7;

const clamp = (p: number) => Math.min(1 - LOGIT_EPSILON, Math.max(LOGIT_EPSILON, p));
const logit = (p: number) => Math.log(clamp(p) / (1 - clamp(p)));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function calibrated(p: number, { temperature, bias }: Calibration): number {
  return sigmoid(logit(p) / temperature + bias);
}

/**
 * Several views' probabilities of one face made one: the mean of their logits. Calibration is affine in the logit,
 * so the mean of calibrated views is the calibrated mean; and views that disagree meet where their logits do, not
 * at the mean probability, which would pull a face one view is sure of towards "uncertain".
 */
export function meanLogit(probs: readonly number[]): number {
  return sigmoid(probs.reduce((sum, p) => sum + logit(p), 0) / probs.length);
}

/** Weights that give every (group, class) cell the same total, so no folder and no class outweighs another. */
export function balancedWeights(labels: ArrayLike<number>, groups?: ArrayLike<number>): Float64Array {
  const key = (i: number) => `${groups ? groups[i] : 0}:${labels[i]}`;
  const counts = new Map<string, number>();
  for (let i = 0; i < labels.length; i++) counts.set(key(i), (counts.get(key(i)) ?? 0) + 1);
  const weights = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) weights[i] = labels.length / counts.size / counts.get(key(i))!;
  return weights;
}

const MIN_TEMPERATURE = 0.05;
const MAX_TEMPERATURE = 20;

/**
 * The temperature and bias that minimise the weighted log loss (Platt scaling on the logit): a logistic regression
 * with one input, convex in (1 / temperature, bias), solved by Newton's method with a halving line search.
 * Unweighted, it calibrates to the validation data's own class mix; with `balancedWeights`, to an even one.
 */
export function fitCalibration(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  weights?: ArrayLike<number>,
): Calibration {
  const z = Float64Array.from(probs, logit);
  const w = (i: number) => (weights ? weights[i] : 1);
  const loss = (a: number, b: number) => {
    let sum = 0;
    for (let i = 0; i < z.length; i++) {
      const s = clamp(sigmoid(a * z[i] + b));
      sum -= w(i) * (labels[i] === 1 ? Math.log(s) : Math.log(1 - s));
    }
    return sum;
  };
  const [minA, maxA] = [1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE];
  let [a, b] = [1, 0];
  let current = loss(a, b);
  for (let iteration = 0; iteration < 50; iteration++) {
    let [ga, gb, haa, hab, hbb] = [0, 0, 0, 0, 0];
    for (let i = 0; i < z.length; i++) {
      const s = sigmoid(a * z[i] + b);
      const r = w(i) * (s - labels[i]);
      const h = w(i) * s * (1 - s);
      ga += r * z[i];
      gb += r;
      haa += h * z[i] * z[i];
      hab += h * z[i];
      hbb += h;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 1e-12)) break;
    const [da, db] = [(hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det];
    let step = 1;
    let next = current;
    let [na, nb] = [a, b];
    for (; step > 1e-6; step /= 2) {
      [na, nb] = [Math.min(maxA, Math.max(minA, a - step * da)), b - step * db];
      next = loss(na, nb);
      if (next <= current) break;
    }
    if (step <= 1e-6) break;
    const settled = current - next < 1e-10 * Math.max(1, Math.abs(current));
    [a, b, current] = [na, nb, next];
    if (settled) break;
  }
  return { temperature: 1 / a, bias: b };
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
