import { describe, expect, it } from 'vitest';
import {
  learningRate,
  resolveMix,
  scaleStages,
  SHIPPED_RECIPE,
  stageAt,
  stagesOf,
  totalEpochs,
  withTotal,
  type Stage,
} from '../../training/lib/fit/recipe';

const stage = (epochs: number, lr = 0.001): Stage => ({
  epochs,
  lr,
  lrSchedule: 'cosine',
  augment: 'robust',
  mix: {},
});

describe('the shipped recipe', () => {
  it('is the four runs that made the shipped model, as docs/experiments.md §11–§15 give them', () => {
    expect(SHIPPED_RECIPE.map((s) => [s.epochs, s.lr, s.augment, s.mix.diverse])).toEqual([
      [18, 0.001, 'robust', 1],
      [10, 0.0005, 'robust', 1.5],
      [8, 0.0005, 'far', 1.5],
      [8, 0.0005, 'far', 3],
    ]);
    expect(totalEpochs(SHIPPED_RECIPE)).toBe(44);
  });
});

describe('scaleStages', () => {
  it('keeps the stages in proportion and adds up to the total exactly', () => {
    expect(scaleStages(SHIPPED_RECIPE, 22).map((s) => s.epochs)).toEqual([9, 5, 4, 4]);
    expect(scaleStages(SHIPPED_RECIPE, 88).map((s) => s.epochs)).toEqual([36, 20, 16, 16]);
    expect(scaleStages(SHIPPED_RECIPE, 4).map((s) => s.epochs)).toEqual([1, 1, 1, 1]);
    // 3 × (18, 10, 8, 8) / 44 = 1.23, 0.68, 0.55, 0.55: the largest remainders win, the earlier stage on a tie.
    expect(scaleStages(SHIPPED_RECIPE, 3).map((s) => s.epochs)).toEqual([1, 1, 1]);
    expect(scaleStages(SHIPPED_RECIPE, 3).map((s) => s.augment)).toEqual(['robust', 'robust', 'far']);
    expect(scaleStages(SHIPPED_RECIPE, 1)).toEqual([{ ...SHIPPED_RECIPE[0], epochs: 1 }]);
  });

  it('refuses a run without epochs', () => {
    expect(() => scaleStages(SHIPPED_RECIPE, 0)).toThrow(/at least 1 epoch/);
  });
});

describe('withTotal', () => {
  it('gives a resumed run a new total by changing its last stage', () => {
    expect(withTotal([stage(3), stage(2)], 7).map((s) => s.epochs)).toEqual([3, 4]);
    expect(withTotal([stage(3), stage(2)], 4).map((s) => s.epochs)).toEqual([3, 1]);
    expect(() => withTotal([stage(3), stage(2)], 3)).toThrow(/before the last take 3 epochs/);
  });
});

describe('stageAt', () => {
  it('finds the stage of every epoch, and where it starts', () => {
    const stages = [stage(2), stage(1), stage(3)];
    expect([0, 1, 2, 3, 4, 5].map((e) => [stageAt(stages, e).index, stageAt(stages, e).first])).toEqual([
      [0, 0],
      [0, 0],
      [1, 2],
      [2, 3],
      [2, 3],
      [2, 3],
    ]);
    expect(() => stageAt(stages, 6)).toThrow(/epoch 7 is past the run's 6 epochs/);
  });
});

describe('learningRate', () => {
  it('starts each cosine stage at its rate and decays it to 0 by the stage end', () => {
    const s = stage(2, 0.0005);
    expect(learningRate(s, 0, 100)).toBe(0.0005);
    expect(learningRate(s, 50, 100)).toBeCloseTo(0.00025, 12);
    expect(learningRate(s, 99, 100)).toBeCloseTo(0.0005 * ((1 + Math.cos((Math.PI * 99) / 100)) / 2), 12);
    expect(learningRate(s, 99, 100)).toBeLessThan(1e-6);
  });

  it('holds a constant stage at its rate', () => {
    expect(learningRate({ ...stage(2), lrSchedule: 'constant' }, 70, 100)).toBe(0.001);
  });
});

describe('resolveMix', () => {
  it("gives every folder the stage's share, and 1 to folders it does not name", () => {
    expect(resolveMix(SHIPPED_RECIPE[3], ['celeba', 'diverse', 'mine'])).toEqual({ celeba: 1, diverse: 3, mine: 1 });
  });
});

describe('stagesOf', () => {
  it("reads a run's stages, and makes one of the options of a run from before stages", () => {
    expect(stagesOf({ stages: [stage(2)] })).toEqual([stage(2)]);
    expect(stagesOf({ epochs: 8, lr: 0.0005, augment: 'far', lrSchedule: 'cosine', mix: { a: 1 } })).toEqual([
      { epochs: 8, lr: 0.0005, lrSchedule: 'cosine', augment: 'far', mix: { a: 1 } },
    ]);
    expect(stagesOf({ epochs: 30, lr: 0.001 })).toEqual([stage(30)]);
  });
});
