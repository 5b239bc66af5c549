import { describe, expect, it } from 'vitest';
import {
  balancedWeights,
  calibrated,
  chooseUncertainBand,
  confidentStats,
  fitCalibration,
  meanLogit,
} from '../../src/core/calibration';
import { mulberry32 } from '../../src/core/augment';

describe('calibration', () => {
  it('scales the logit by the temperature and shifts it by the bias', () => {
    expect(calibrated(0.5, { temperature: 3, bias: 0 })).toBeCloseTo(0.5);
    const logit = Math.log(0.9 / 0.1);
    expect(calibrated(0.9, { temperature: 2, bias: 0 })).toBeCloseTo(1 / (1 + Math.exp(-logit / 2)));
    expect(calibrated(0.9, { temperature: 1, bias: 0 })).toBeCloseTo(0.9);
    expect(calibrated(0.9, { temperature: 2, bias: -0.5 })).toBeCloseTo(1 / (1 + Math.exp(-(logit / 2 - 0.5))));
  });

  /** Calibrated probabilities with labels drawn from them, then distorted as a model would: p' = sigmoid((logit(p) - bias) * temperature). */
  function distorted(n: number, temperature: number, bias: number, seed = 7) {
    const rng = mulberry32(seed);
    const probs: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = 0.02 + 0.96 * rng();
      labels.push(rng() < p ? 1 : 0);
      probs.push(1 / (1 + Math.exp(-(Math.log(p / (1 - p)) - bias) * temperature)));
    }
    return { probs, labels };
  }

  it('recovers the temperature and the bias that distorted scores were made with', () => {
    const { probs, labels } = distorted(20000, 2.5, 0);
    const fitted = fitCalibration(probs, labels);
    expect(Math.abs(fitted.temperature - 2.5)).toBeLessThan(0.1);
    expect(Math.abs(fitted.bias)).toBeLessThan(0.05);
    const leaning = distorted(20000, 1.5, 0.8, 11);
    const refitted = fitCalibration(leaning.probs, leaning.labels);
    expect(Math.abs(refitted.temperature - 1.5)).toBeLessThan(0.1);
    expect(Math.abs(refitted.bias - 0.8)).toBeLessThan(0.1);
  });

  it('treats a weight as that many copies of a face', () => {
    const { probs, labels } = distorted(3000, 2, 0.3, 3);
    const weights = probs.map((_, i) => 1 + (i % 3));
    const copies = probs.flatMap((p, i) => Array<number>(weights[i]).fill(p));
    const copyLabels = labels.flatMap((y, i) => Array<number>(weights[i]).fill(y));
    const weighted = fitCalibration(probs, labels, weights);
    const copied = fitCalibration(copies, copyLabels);
    expect(weighted.temperature).toBeCloseTo(copied.temperature, 6);
    expect(weighted.bias).toBeCloseTo(copied.bias, 6);
  });

  it('sharpens within the temperature bounds, and stays finite, when the classes are separable', () => {
    const fitted = fitCalibration([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]);
    expect(fitted.temperature).toBeGreaterThanOrEqual(0.05);
    expect(fitted.temperature).toBeLessThan(0.2);
    expect(Number.isFinite(fitted.bias)).toBe(true);
  });

  it('weights every (group, class) cell alike', () => {
    // Group 0: three men and one woman; group 1: two women.
    const weights = balancedWeights([1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1]);
    const cell = (indices: number[]) => indices.reduce((sum, i) => sum + weights[i], 0);
    expect(cell([0, 1, 2])).toBeCloseTo(2);
    expect(cell([3])).toBeCloseTo(2);
    expect(cell([4, 5])).toBeCloseTo(2);
    expect(Array.from(balancedWeights([1, 0, 0, 0]))).toEqual([2, 2 / 3, 2 / 3, 2 / 3]);
  });

  it('puts the threshold where both classes are recalled alike when weighted class-balanced', () => {
    // Nine men in ten, and a model whose scores lean male: unweighted, the fit keeps the lean the data rewards.
    const rng = mulberry32(5);
    const probs: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const y = rng() < 0.9 ? 1 : 0;
      const z = (y === 1 ? 1 : -1) + 1.2 * gaussian(rng) + 0.7;
      probs.push(1 / (1 + Math.exp(-z)));
      labels.push(y);
    }
    const recall = (c: { temperature: number; bias: number }, y: number) => {
      const own = probs.filter((_, i) => labels[i] === y);
      return own.filter((p) => (calibrated(p, c) >= 0.5 ? 1 : 0) === y).length / own.length;
    };
    const plain = fitCalibration(probs, labels);
    const balanced = fitCalibration(probs, labels, balancedWeights(labels));
    expect(recall(plain, 1) - recall(plain, 0)).toBeGreaterThan(0.3);
    expect(Math.abs(recall(balanced, 1) - recall(balanced, 0))).toBeLessThan(0.03);
  });

  it('makes views one by the mean of their logits, which commutes with calibration', () => {
    // logit(0.99) = 4.595 and logit(0.6) = 0.405 meet at 2.5: 0.924, where the mean probability would be 0.795.
    expect(meanLogit([0.99, 0.6])).toBeCloseTo(0.924, 3);
    expect(meanLogit([0.3, 0.7])).toBeCloseTo(0.5, 9);
    expect(meanLogit([0.8])).toBeCloseTo(0.8, 9);
    const calibration = { temperature: 0.7, bias: -0.03 };
    const views = [0.9, 0.35, 0.62];
    expect(meanLogit(views.map((p) => calibrated(p, calibration)))).toBeCloseTo(
      calibrated(meanLogit(views), calibration),
      9,
    );
  });

  it('counts coverage and per-class precision of the labels shown', () => {
    const probs = [0.95, 0.9, 0.55, 0.45, 0.1, 0.05];
    const labels = [1, 0, 1, 0, 0, 0];
    expect(confidentStats(probs, labels, 0.5, 0)).toEqual({ coverage: 1, precision: 2 / 3, accuracy: 5 / 6 });
    expect(confidentStats(probs, labels, 0.5, 0.1)).toEqual({ coverage: 4 / 6, precision: 0.5, accuracy: 0.75 });
  });

  it('chooses the widest band that leaves the asked share of faces labelled', () => {
    // Scores 0.005, 0.015, …, 0.995: two faces at each distance 0.005, 0.015, … from the threshold.
    const probs = Array.from({ length: 100 }, (_, i) => (i + 0.5) / 100);
    const labels = probs.map((p) => (p >= 0.5 ? 1 : 0));
    // A band of 0.01 withholds the two faces at 0.495 and 0.505; 0.02 would withhold four (96 % labelled).
    expect(chooseUncertainBand(probs, labels, 0.5, 0.97)).toEqual({ band: 0.01, coverage: 0.98, precision: 1 });
    expect(chooseUncertainBand(probs, labels, 0.5, 0.9)).toEqual({ band: 0.05, coverage: 0.9, precision: 1 });
    expect(chooseUncertainBand(probs, labels, 0.5, 1).band).toBe(0);
  });
});

/** A standard normal draw (Box–Muller). */
function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}
