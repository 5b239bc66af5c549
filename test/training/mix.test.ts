import { describe, expect, it } from 'vitest';
import {
  batchCounts,
  describeBatch,
  epochCounts,
  groupDroWeights,
  mixedBatch,
  splitByGroup,
  strataOf,
  stratumCounts,
  type Stratum,
} from '../../training/lib/data/mix';

const stratum = (source: string, label: 0 | 1, from: number, n: number): Stratum => ({
  source,
  label,
  indices: Uint32Array.from({ length: n }, (_, i) => from + i),
});

describe('stratumCounts', () => {
  it('splits a batch by share, rounding by largest remainder so the counts add up', () => {
    expect(stratumCounts([1, 1, 1, 1], 64)).toEqual([16, 16, 16, 16]);
    // 64 × (0.3, 0.3, 0.2, 0.2) = 19.2, 19.2, 12.8, 12.8: the two largest remainders get the two spare images.
    expect(stratumCounts([0.3, 0.3, 0.2, 0.2], 64)).toEqual([19, 19, 13, 13]);
    expect(stratumCounts([2, 1], 10)).toEqual([7, 3]);
    expect(stratumCounts([1, 0], 8)).toEqual([8, 0]);
  });
});

describe('mixedBatch', () => {
  const strata = [stratum('a', 0, 0, 10), stratum('a', 1, 10, 3), stratum('b', 0, 13, 5), stratum('b', 1, 18, 7)];
  const counts = [4, 4, 2, 2];
  const which = (i: number) => strata.findIndex((s) => i >= s.indices[0] && i < s.indices[0] + s.indices.length);

  it('takes exactly the asked number of each stratum in every batch', () => {
    for (let step = 0; step < 20; step++) {
      const batch = mixedBatch(strata, counts, step, 42);
      expect(batch).toHaveLength(12);
      const per = [0, 0, 0, 0];
      for (const i of batch) per[which(i)]++;
      expect(per).toEqual(counts);
    }
  });

  it('shows every image of a stratum once before any twice', () => {
    const ofStratum0 = (step: number) => mixedBatch(strata, counts, step, 42).filter((i) => which(i) === 0);
    // Stratum 0 has 10 images and 4 a batch: steps 0 and 1 take 8 different ones, steps 0–4 take each twice.
    expect(new Set([0, 1].flatMap(ofStratum0)).size).toBe(8);
    const times = new Map<number, number>();
    for (const i of [0, 1, 2, 3, 4].flatMap(ofStratum0)) times.set(i, (times.get(i) ?? 0) + 1);
    expect([...times.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect([...times.values()].every((t) => t === 2)).toBe(true);
  });

  it('mixes the strata through the batch, so neither half of it holds only one class or folder', () => {
    for (let step = 0; step < 20; step++) {
      const batch = mixedBatch(strata, counts, step, 42);
      for (const half of [batch.slice(0, 6), batch.slice(6)]) expect(new Set(half.map(which)).size).toBeGreaterThan(1);
    }
  });

  it('is a function of the seed and the step alone, so a resumed run sees the same batches', () => {
    expect(mixedBatch(strata, counts, 7, 42)).toEqual(mixedBatch(strata, counts, 7, 42));
    expect(mixedBatch(strata, counts, 7, 43)).not.toEqual(mixedBatch(strata, counts, 7, 42));
  });
});

describe('mixedBatch after batches of other counts', () => {
  const strata = [stratum('a', 0, 0, 6), stratum('a', 1, 6, 6)];

  it('goes on through each stratum where the earlier batches stopped', () => {
    // A walk of one image of each stratum a batch takes positions 0, 1, 2, … of both: after four such batches, a
    // batch of 4 + 0 takes stratum 0's positions 4–7 (the end of one pass and the start of the next).
    const oneByOne = [4, 5, 6, 7].flatMap((step) => mixedBatch(strata, [1, 1], step, 42).filter((i) => i < 6));
    const after = mixedBatch(strata, [4, 0], 4, 42, [4, 4]);
    expect([...after].sort()).toEqual([...oneByOne].sort());
  });

  it('is the same as the default when every batch so far had these counts', () => {
    expect(mixedBatch(strata, [2, 3], 5, 42, [10, 15])).toEqual(mixedBatch(strata, [2, 3], 5, 42));
  });
});

describe('batchCounts', () => {
  const part = (label: 0 | 1, group: string): Stratum => ({ ...stratum('diverse', label, 0, 1), group });
  const strata = [stratum('celeba', 0, 0, 1), stratum('celeba', 1, 0, 1), part(0, 'a'), part(0, 'b'), part(1, 'a')];
  const share = (s: Stratum) => (s.source === 'celeba' ? 1 : 5);

  it('gives each folder’s women and men their share first, then splits it by the weights within', () => {
    // Pairs 1 : 1 : 5 : 5 of 24 = 2, 2, 10, 10; diverse's women 10 split 0.7 : 0.3 = 7 and 3.
    expect(batchCounts(strata, share, [1, 1, 0.7, 0.3, 1], 24)).toEqual([2, 2, 7, 3, 10]);
  });

  it('keeps the pairs’ counts whatever the weights, where one level of rounding would move an image between them', () => {
    const three = [stratum('celeba', 0, 0, 1), part(0, 'a'), part(0, 'b'), part(0, 'c')];
    const of = (s: Stratum) => (s.source === 'celeba' ? 47 : 53);
    // Pairs 4.7 and 5.3 of 10 → 5 and 5; diverse's 5 in thirds → 2, 2, 1.
    expect(batchCounts(three, of, [1, 1, 1, 1], 10)).toEqual([5, 2, 2, 1]);
    // One level: 4.7, 1.77, 1.77, 1.77 → the three remainders of .77 beat celeba's .7, and diverse gets 6.
    expect(stratumCounts([47, 53 / 3, 53 / 3, 53 / 3], 10)).toEqual([4, 2, 2, 2]);
  });
});

describe('epochCounts', () => {
  const part = (label: 0 | 1, group: string): Stratum => ({ ...stratum('diverse', label, 0, 1), group });
  const strata = [stratum('celeba', 0, 0, 1), part(0, 'a'), part(0, 'b'), part(0, 'c'), part(1, 'a')];
  const share = (s: Stratum) => (s.source === 'celeba' ? 1 : 3);
  // Pairs 1 : 3 : 3 of 14 = 2, 6, 6; diverse's women 6 split 0.9 : 0.05 : 0.05 = 5.4, 0.3, 0.3 a batch.
  const weights = [1, 0.9, 0.05, 0.05, 1];
  const rows = epochCounts(strata, share, weights, 14, 100);
  const totals = strata.map((_, k) => rows.reduce((sum, row) => sum + row[k], 0));

  it('keeps each folder’s women and men at their count in every batch', () => {
    for (const row of rows) {
      expect(row[0]).toBe(2);
      expect(row[1] + row[2] + row[3]).toBe(6);
      expect(row[4]).toBe(6);
    }
  });

  it('gives a group worth under half a place a batch its share of the epoch, where every batch alike gives it none', () => {
    expect(batchCounts(strata, share, weights, 14)).toEqual([2, 6, 0, 0, 6]);
    // 0.3 a batch over 100 batches: 30 places each, 540 for the rest.
    expect(totals).toEqual([200, 540, 30, 30, 600]);
    // Dealt through the epoch, not bunched: every ten batches hold three of each.
    for (let from = 0; from < 100; from += 10) {
      const ten = rows.slice(from, from + 10);
      expect(ten.reduce((sum, row) => sum + row[2], 0)).toBe(3);
      expect(ten.reduce((sum, row) => sum + row[3], 0)).toBe(3);
    }
  });

  it('keeps every stratum within a place of its share, however many batches have been dealt', () => {
    const dealt = strata.map(() => 0);
    const exact = [2, 5.4, 0.3, 0.3, 6];
    rows.forEach((row, step) => {
      row.forEach((n, k) => (dealt[k] += n));
      dealt.forEach((n, k) => expect(Math.abs(n - (step + 1) * exact[k])).toBeLessThan(1));
    });
  });

  it('is the batch counts themselves when every stratum’s share is a whole number of places', () => {
    expect(epochCounts(strata, share, [1, 2, 2, 2, 1], 14, 5)).toEqual(Array(5).fill([2, 2, 2, 2, 6]));
  });
});

describe('groupDroWeights', () => {
  const split = (source: string, label: 0 | 1, group: string, weight: number): Stratum => ({
    ...stratum(source, label, 0, 1),
    group,
    weight,
  });
  const strata = [
    split('diverse', 0, 'Black', 0.5),
    split('diverse', 0, 'White', 0.5),
    split('diverse', 1, 'Black', 0.5),
    split('diverse', 1, 'White', 0.5),
    stratum('celeba', 0, 0, 1),
  ];

  it('multiplies each weight by exp(η × loss), keeping each folder’s women and men at their total', () => {
    const w = groupDroWeights(strata, [0.5, 0.5, 0.5, 0.5, 1], [0.6, 0.2, 0.3, 0.3, 0.9], 2);
    // Women: 0.5·e^1.2 and 0.5·e^0.4, scaled to add up to 1: e^0.8 / (e^0.8 + 1) and 1 / (e^0.8 + 1).
    expect(w[0]).toBeCloseTo(Math.exp(0.8) / (Math.exp(0.8) + 1), 12);
    expect(w[1]).toBeCloseTo(1 / (Math.exp(0.8) + 1), 12);
    // Equal losses leave the men as they were; a stratum alone in its pair keeps its weight whatever its loss.
    expect(w.slice(2)).toEqual([0.5, 0.5, 1]);
  });

  it('compounds over epochs, and is the identity at η = 0', () => {
    const losses = [0.6, 0.2, 0.3, 0.3, 0.9];
    const once = groupDroWeights(strata, [0.5, 0.5, 0.5, 0.5, 1], losses, 1);
    const twice = groupDroWeights(strata, once, losses, 1);
    expect(twice[0]).toBeCloseTo(Math.exp(0.8) / (Math.exp(0.8) + 1), 12);
    expect(groupDroWeights(strata, [0.5, 0.5, 0.5, 0.5, 1], losses, 0)).toEqual([0.5, 0.5, 0.5, 0.5, 1]);
  });
});

describe('splitByGroup', () => {
  it('weighs each group by the square root of its size, and keeps images in no group as a part', () => {
    // 100 images: 64 aged 20–39, 16 over 60, 4 teenagers, 16 with no age.
    const ages = (i: number) => (i < 64 ? '20–39' : i < 80 ? '60+' : i < 84 ? '13–19' : null);
    const parts = splitByGroup(stratum('diverse', 1, 0, 100), ages);
    expect(parts.map((p) => [p.group, p.indices.length, p.weight])).toEqual([
      ['13–19', 4, 2 / 18],
      ['20–39', 64, 8 / 18],
      ['60+', 16, 4 / 18],
      ['no group', 16, 4 / 18],
    ]);
    expect(parts.every((p) => p.source === 'diverse' && p.label === 1)).toBe(true);
    expect(parts.flatMap((p) => [...p.indices]).sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
  });

  it('leaves a stratum whose images are all in one group, or none, as it is', () => {
    const whole = stratum('celeba', 0, 5, 10);
    expect(splitByGroup(whole, () => null)).toEqual([whole]);
    expect(splitByGroup(whole, () => '20–39')).toEqual([whole]);
  });
});

describe('strataOf', () => {
  it('makes each folder’s women and men a stratum, indexed into the folders laid end to end', () => {
    const strata = strataOf([
      { name: 'celeba', y: [0, 1, 1, 0] },
      { name: 'diverse', y: Uint8Array.from([1, 0, 1]) },
    ]);
    expect(strata.map((s) => [s.source, s.label, [...s.indices]])).toEqual([
      ['celeba', 0, [0, 3]],
      ['celeba', 1, [1, 2]],
      ['diverse', 0, [5]],
      ['diverse', 1, [4, 6]],
    ]);
  });

  it('splits a folder by group, asking for each image by its index in that folder', () => {
    const asked: number[] = [];
    // diverse's images 0 and 2 are teenagers, the rest 20–39.
    const groupOf = (i: number) => (asked.push(i), i === 0 || i === 2 ? '13–19' : '20–39');
    const strata = strataOf([
      { name: 'celeba', y: [0, 1] },
      { name: 'diverse', y: [0, 0, 0, 1, 1], groupOf },
    ]);
    expect(asked.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(strata.map((s) => [s.source, s.label, s.group, [...s.indices]])).toEqual([
      ['celeba', 0, undefined, [0]],
      ['celeba', 1, undefined, [1]],
      ['diverse', 0, '13–19', [2, 4]],
      ['diverse', 0, '20–39', [3]],
      ['diverse', 1, undefined, [5, 6]],
    ]);
  });
});

describe('describeBatch', () => {
  it('gives each folder’s women and men, and the groups of a split stratum', () => {
    const strata: Stratum[] = [
      stratum('celeba', 0, 0, 10),
      stratum('celeba', 1, 10, 10),
      { ...stratum('diverse', 0, 20, 6), group: '13–19' },
      { ...stratum('diverse', 0, 26, 6), group: '20–39' },
      stratum('diverse', 1, 32, 10),
    ];
    expect(describeBatch(strata, [8, 8, 5, 19, 24])).toBe(
      'celeba 8 female + 8 male, diverse 24 female (13–19 5, 20–39 19) + 24 male',
    );
    // Means over an epoch's batches, to a tenth; their sums come out whole.
    expect(describeBatch(strata, [8, 8, 0.33, 23.67, 24])).toBe(
      'celeba 8 female + 8 male, diverse 24 female (13–19 0.3, 20–39 23.7) + 24 male',
    );
  });
});
