/**
 * Binary classification metrics over probabilities of the positive class ("male" = 1). Pure functions shared by
 * training, evaluation and tests.
 */

export interface Confusion {
  /** Predicted male, is male. */
  tp: number;
  /** Predicted male, is female. */
  fp: number;
  tn: number;
  fn: number;
}

export function confusion(probs: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): Confusion {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const predicted = probs[i] >= threshold;
    if (labels[i] === 1) {
      if (predicted) c.tp++;
      else c.fn++;
    } else if (predicted) c.fp++;
    else c.tn++;
  }
  return c;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

export function accuracy(c: Confusion): number {
  return ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn);
}

/** Mean of the two classes' recalls: what accuracy would be on balanced classes. */
export function balancedAccuracy(c: Confusion): number {
  return (ratio(c.tp, c.tp + c.fn) + ratio(c.tn, c.tn + c.fp)) / 2;
}

export function perClass(c: Confusion) {
  return {
    male: { precision: ratio(c.tp, c.tp + c.fp), recall: ratio(c.tp, c.tp + c.fn), n: c.tp + c.fn },
    female: { precision: ratio(c.tn, c.tn + c.fn), recall: ratio(c.tn, c.tn + c.fp), n: c.tn + c.fp },
  };
}

/** The figures a table row gives for `probs` against `labels` at `threshold`: count, accuracies, each class's recall. */
export function summary(probs: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5) {
  const c = confusion(probs, labels, threshold);
  const { female, male } = perClass(c);
  return {
    n: labels.length,
    accuracy: accuracy(c),
    balancedAccuracy: balancedAccuracy(c),
    femaleRecall: female.recall,
    maleRecall: male.recall,
  };
}

/** Area under the ROC curve: the chance a random male scores above a random female, ties counting half. */
export function auc(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => probs[a] - probs[b]);
  let rankSumPositive = 0;
  let positives = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && probs[order[j + 1]] === probs[order[i]]) j++;
    const meanRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        rankSumPositive += meanRank;
        positives++;
      }
    }
    i = j + 1;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSumPositive - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Expected calibration error of the shown label's confidence (max(p, 1 − p)) over `bins` equal-width bins:
 * the mean gap between confidence and accuracy, weighted by how many predictions fall in each bin.
 */
export function expectedCalibrationError(probs: ArrayLike<number>, labels: ArrayLike<number>, bins = 15): number {
  const count = new Array<number>(bins).fill(0);
  const confSum = new Array<number>(bins).fill(0);
  const correctSum = new Array<number>(bins).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const p = probs[i];
    const conf = Math.max(p, 1 - p);
    const b = Math.min(bins - 1, Math.floor(conf * bins));
    count[b]++;
    confSum[b] += conf;
    correctSum[b] += (p >= 0.5 ? 1 : 0) === labels[i] ? 1 : 0;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b] > 0) ece += Math.abs(confSum[b] - correctSum[b]) / labels.length;
  return ece;
}

/** Mean binary cross-entropy. */
export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, probs[i]));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return labels.length > 0 ? sum / labels.length : 0;
}
