import { describe, expect, it } from 'vitest';
import { chooseUncertainBand, confidentStats, fitTemperature, temperatureScaled } from '../../src/core/calibration';
import { mulberry32 } from '../../src/core/augment';

describe('calibration', () => {
  it('scales the logit by the temperature', () => {
    expect(temperatureScaled(0.5, 3)).toBeCloseTo(0.5);
    const logit = Math.log(0.9 / 0.1);
    expect(temperatureScaled(0.9, 2)).toBeCloseTo(1 / (1 + Math.exp(-logit / 2)));
    expect(temperatureScaled(0.9, 1)).toBeCloseTo(0.9);
  });

  it('recovers the temperature that over-confident scores were made with', () => {
    // Draw calibrated probabilities, draw labels from them, then make the scores over-confident with T = 1/2.5.
    const rng = mulberry32(7);
    const probs: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const p = 0.02 + 0.96 * rng();
      labels.push(rng() < p ? 1 : 0);
      probs.push(temperatureScaled(p, 1 / 2.5));
    }
    expect(Math.abs(fitTemperature(probs, labels) - 2.5)).toBeLessThan(0.1);
  });

  it('counts coverage and per-class precision of the labels shown', () => {
    const probs = [0.95, 0.9, 0.55, 0.45, 0.1, 0.05];
    const labels = [1, 0, 1, 0, 0, 0];
    expect(confidentStats(probs, labels, 0.5, 0)).toEqual({ coverage: 1, precision: 2 / 3, accuracy: 5 / 6 });
    expect(confidentStats(probs, labels, 0.5, 0.1)).toEqual({ coverage: 4 / 6, precision: 0.5, accuracy: 0.75 });
  });

  it('widens the band until the shown labels are precise enough', () => {
    const probs = [0.99, 0.98, 0.7, 0.3, 0.02, 0.01];
    const labels = [1, 1, 0, 1, 0, 0];
    expect(chooseUncertainBand(probs, labels, 0.5, 0.98)).toEqual({ band: 0.21, coverage: 4 / 6, precision: 1 });
  });
});
