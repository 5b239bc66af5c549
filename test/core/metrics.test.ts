import { describe, expect, it } from 'vitest';
import {
  accuracy,
  auc,
  balancedAccuracy,
  confusion,
  expectedCalibrationError,
  logLoss,
  perClass,
  summary,
} from '../../src/core/metrics';

describe('metrics', () => {
  const probs = [0.9, 0.8, 0.3, 0.6, 0.1, 0.2];
  const labels = [1, 1, 1, 0, 0, 0];

  it('counts the confusion matrix at the threshold', () => {
    expect(confusion(probs, labels)).toEqual({ tp: 2, fn: 1, fp: 1, tn: 2 });
    expect(confusion(probs, labels, 0.25)).toEqual({ tp: 3, fn: 0, fp: 1, tn: 2 });
  });

  it('computes accuracy, balanced accuracy and per-class figures by hand', () => {
    // 9 males all right, 1 female wrong of 1: accuracy 0.9, balanced (1 + 0) / 2.
    const c = { tp: 9, fn: 0, fp: 1, tn: 0 };
    expect(accuracy(c)).toBeCloseTo(0.9);
    expect(balancedAccuracy(c)).toBeCloseTo(0.5);
    expect(perClass(c)).toEqual({
      male: { precision: 0.9, recall: 1, n: 9 },
      female: { precision: 0, recall: 0, n: 1 },
    });
  });

  it('summarises a table row: 2 of 3 men and 2 of 3 women right at 0.5, every man and 2 women at 0.25', () => {
    expect(summary(probs, labels)).toEqual({
      n: 6,
      accuracy: 4 / 6,
      balancedAccuracy: 4 / 6,
      femaleRecall: 2 / 3,
      maleRecall: 2 / 3,
    });
    expect(summary(probs, labels, 0.25)).toMatchObject({ accuracy: 5 / 6, femaleRecall: 2 / 3, maleRecall: 1 });
  });

  it('computes AUC as the probability a male outranks a female, ties half', () => {
    // Pairs (male, female): (0.9 > all) 3, (0.8 > all) 3, (0.3: > 0.1, 0.2) 2 → 8 / 9.
    expect(auc(probs, labels)).toBeCloseTo(8 / 9);
    expect(auc([0.5, 0.5], [1, 0])).toBeCloseTo(0.5);
    expect(auc([0.5, 0.5, 0.7, 0.2], [1, 0, 1, 0])).toBeCloseTo((1 + 1 + 0.5 + 1) / 4);
    expect(auc([0.3, 0.4], [1, 1])).toBeNaN();
  });

  it('computes ECE over confidence bins', () => {
    // All at confidence 0.9 and all right: gap 0.1. All at 0.9, half right: gap 0.4.
    expect(expectedCalibrationError([0.9, 0.1], [1, 0])).toBeCloseTo(0.1);
    expect(expectedCalibrationError([0.9, 0.9], [1, 0])).toBeCloseTo(0.4);
    // Two bins, two samples each: (0.95 conf, both right: 0.05) and (0.6 conf, one right: 0.1) → mean 0.075.
    expect(expectedCalibrationError([0.95, 0.05, 0.6, 0.6], [1, 0, 1, 0])).toBeCloseTo(0.075);
  });

  it('computes log loss', () => {
    expect(logLoss([0.5, 0.5], [1, 0])).toBeCloseTo(Math.log(2));
    expect(logLoss([1, 0], [1, 0])).toBeCloseTo(0, 5);
  });
});
