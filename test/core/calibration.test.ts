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
