import { describe, expect, it } from 'vitest';
import { trainingRecord, type TrainState } from '../../training/lib/fit/checkpoint';

const state = (options: Record<string, unknown>): TrainState => ({
  epoch: 8,
  step: 0,
  history: [],
  bestEpoch: 6,
  bestValBalancedAccuracy: 0.87,
  seconds: 2950.6,
  options: { batch: 64, lr: 0.0005, seed: 42, workers: 2, ...options },
});

/** What every run records, read from `state`. */
const recorded = { epochs: 8, bestEpoch: 6, batch: 64, lr: 0.0005, seed: 42, seconds: 2951 };

describe('trainingRecord', () => {
  it('records the recipe a run trained with, so metadata.json says how to repeat it', () => {
    expect(trainingRecord(state({ from: 'mixed-ft', augment: 'far', lrSchedule: 'cosine' }))).toEqual({
      ...recorded,
      from: 'mixed-ft',
      augment: 'far',
      lrSchedule: 'cosine',
    });
  });

  it('leaves out what runs from before those options were recorded do not have', () => {
    expect(trainingRecord(state({}))).toEqual(recorded);
  });
});
