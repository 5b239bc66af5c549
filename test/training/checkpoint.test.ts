import { describe, expect, it } from 'vitest';
import { batchRecord, trainingRecord, type TrainState } from '../../training/lib/fit/checkpoint';
import { SHIPPED_RECIPE } from '../../training/lib/fit/recipe';

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

  it("records every stage, and the rate and augmentation of the best epoch's stage", () => {
    // Epoch 6 of 1 + 1 + 1 + 5 epochs is in the fourth stage.
    const stages = SHIPPED_RECIPE.map((s, i) => ({ ...s, epochs: i < 3 ? 1 : 5, mix: { celeba: 1, ...s.mix } }));
    expect(trainingRecord(state({ stages }))).toEqual({
      ...recorded,
      lr: 0.0005,
      augment: 'far',
      lrSchedule: 'cosine',
      stages,
    });
    expect(batchRecord(state({ stages, femaleShare: 0.5 }))).toEqual({
      mix: { celeba: 1, diverse: 3 },
      femaleShare: 0.5,
    });
  });
});

describe('batchRecord', () => {
  it('keeps the mix of a run from before stages, and has none for runs from before batches were mixed', () => {
    expect(batchRecord(state({ epochs: 8, mix: { a: 1, b: 2 }, femaleShare: 0.5 }))).toEqual({
      mix: { a: 1, b: 2 },
      femaleShare: 0.5,
    });
    expect(batchRecord(state({ epochs: 8 }))).toBeUndefined();
  });

  it('names the labels.csv column whose groups were balanced', () => {
    expect(batchRecord(state({ epochs: 8, mix: { a: 1 }, femaleShare: 0.5, balance: 'age' }))).toEqual({
      mix: { a: 1 },
      femaleShare: 0.5,
      balance: 'age',
    });
  });
});
