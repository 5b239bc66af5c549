import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../src/core/labels';
import type { Box } from '../../src/core/geometry';
import {
  BoxSmoother,
  DEFAULT_BOX_SMOOTHING,
  ExponentialSmoother,
  smoothingAlpha,
  stableVerdict,
} from '../../src/core/smoothing';

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

  describe('BoxSmoother', () => {
    const face = (x: number, y = 200, side = 100): Box => ({ x, y, width: side, height: side });
    /** The shown boxes of `frames` frames at 30 fps, the detector giving `sample(k)` on frame k. */
    const run = (sample: (k: number) => Box, frames: number, settings = DEFAULT_BOX_SMOOTHING) => {
      const smoother = new BoxSmoother(settings, sample(0), 0);
      return Array.from({ length: frames }, (_, k) => (k === 0 ? sample(0) : smoother.update(sample(k), k * 33)));
    };

    it('ignores a second box at the time of the first', () => {
      const smoother = new BoxSmoother(DEFAULT_BOX_SMOOTHING, face(10), 100);
      expect(smoother.update(face(90), 100)).toEqual(face(10));
    });

    it('holds a face at rest still while views place its box 8 px apart frame by frame', () => {
      const shown = run((k) => face(k % 2 ? 108 : 100), 60).slice(30);
      const steps = shown.slice(1).map((b, k) => Math.abs(b.x - shown[k].x));
      expect(Math.max(...steps)).toBeLessThan(2);
      const xs = shown.map((b) => b.x);
      expect(Math.min(...xs)).toBeGreaterThan(102);
      expect(Math.max(...xs)).toBeLessThan(106);
    });

    it('keeps up with a face crossing the frame, where smoothing at the rest time constant trails it', () => {
      // 10 px a frame: three face widths a second.
      const moving = (k: number) => face(100 + 10 * k);
      const lag = (shown: Box[]) => moving(shown.length - 1).x - shown[shown.length - 1].x;
      expect(lag(run(moving, 30))).toBeLessThan(4);
      expect(lag(run(moving, 30, { ...DEFAULT_BOX_SMOOTHING, speedGain: 0 }))).toBeGreaterThan(30);
    });

    it('follows a face coming closer in size as well as in place', () => {
      const shown = run((k) => face(100, 200, Math.min(100 + 10 * k, 200)), 40);
      expect(shown[shown.length - 1].width).toBeGreaterThan(198);
    });
  });
});
