import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../src/core/labels';
import { ExponentialSmoother, smoothingAlpha, stableVerdict } from '../../src/core/smoothing';

describe('smoothing', () => {
  it('weights a sample by 1 − e^(−dt/τ)', () => {
    expect(smoothingAlpha(0, 500)).toBe(0);
    expect(smoothingAlpha(500, 500)).toBeCloseTo(1 - Math.exp(-1));
    expect(smoothingAlpha(1e6, 500)).toBeCloseTo(1);
    expect(smoothingAlpha(-10, 500)).toBe(0);
  });

  it('settles in the same time whatever the frame rate', () => {
    const settle = (fps: number) => {
      const s = new ExponentialSmoother(500, 0, 0);
      for (let t = 1000 / fps; t <= 1000 + 1e-9; t += 1000 / fps) s.update(1, t);
      return s.value;
    };
    expect(settle(5)).toBeCloseTo(1 - Math.exp(-2), 10);
    expect(settle(60)).toBeCloseTo(1 - Math.exp(-2), 10);
  });

  it('damps a noisy sample: one outlier moves the value by its weight only', () => {
    const s = new ExponentialSmoother(500, 0.9, 0);
    expect(s.update(0.1, 33)).toBeCloseTo(0.9 - 0.8 * smoothingAlpha(33, 500));
    expect(s.value).toBeGreaterThan(0.8);
  });

  it('keeps the previous label while the probability is within the margin of its range', () => {
    // Default policy: "uncertain" for 0.35 < p < 0.65.
    expect(stableVerdict(0.64, 'male', DEFAULT_POLICY, 0.03).label).toBe('male');
    expect(stableVerdict(0.64, 'male', DEFAULT_POLICY, 0.03).confidence).toBeCloseTo(0.64);
    expect(stableVerdict(0.61, 'male', DEFAULT_POLICY, 0.03).label).toBe('uncertain');
    expect(stableVerdict(0.66, 'uncertain', DEFAULT_POLICY, 0.03).label).toBe('uncertain');
    expect(stableVerdict(0.7, 'uncertain', DEFAULT_POLICY, 0.03).label).toBe('male');
    expect(stableVerdict(0.2, 'male', DEFAULT_POLICY, 0.03).label).toBe('female');
    expect(stableVerdict(0.66, undefined, DEFAULT_POLICY, 0.03).label).toBe('male');
  });
});
