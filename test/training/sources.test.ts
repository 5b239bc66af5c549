import { describe, expect, it } from 'vitest';
import type { Dataset, DatasetEntry } from '../../training/lib/data/dataset';
import { collectionsOf, sourceName } from '../../training/lib/data/sources';
import { inSplit, isHeldOut, measuredEntries } from '../../training/lib/data/splits';

const dataset = (names: string[]): Dataset => ({
  root: '/data/x',
  layout: 'flat',
  entries: names.map((name) => ({ name }) as DatasetEntry),
  skipped: [],
  missingSplits: [],
});

describe('data sources', () => {
  it('names a folder by itself, or by its parent for the Kaggle download\'s "Dataset"', () => {
    expect(sourceName('/data/celeba/Dataset')).toBe('celeba');
    expect(sourceName('/data/diverse')).toBe('diverse');
  });

  it('credits each collection by its file names, with its licence, and counts files it does not know', () => {
    const uses = collectionsOf(
      dataset([
        'Male/fairface-train_1.jpg',
        'Female/fairface-train_22.jpg',
        'Female/aaf_00721A13.jpg',
        'Train/Male/000001.jpg',
        'Male/selfie.jpg',
      ]),
    );
    expect(uses.map((u) => [u.collection, u.images])).toEqual([
      ['FairFace', 2],
      ['All-Age-Faces', 1],
      ['CelebA', 1],
      ['unrecognised', 1],
    ]);
    expect(uses[0].licence).toBe('CC BY 4.0');
    expect(uses[0].credit).toMatch(/Kärkkäinen and Joo/);
    expect(uses[3].licence).toMatch(/unknown/);
  });

  it('crops for an export only what Validation and Test are made of', () => {
    const names = Array.from({ length: 300 }, (_, i) => `${i}.jpg`);
    const kaggle: Dataset = {
      ...dataset([]),
      layout: 'kaggle',
      entries: (['Train', 'Validation', 'Test'] as const).flatMap((split) =>
        names.map((n) => ({ name: `${split}/Male/${n}`, split }) as DatasetEntry),
      ),
    };
    const kept = measuredEntries(kaggle);
    expect(kept.filter((e) => e.split === 'Validation')).toHaveLength(300);
    expect(kept.filter((e) => e.split === 'Test')).toHaveLength(300);
    // Train's held-out tenth too, for a Validation folder in which no face is found.
    expect(kept.filter((e) => e.split === 'Train').map((e) => e.name)).toEqual(
      names.map((n) => `Train/Male/${n}`).filter(isHeldOut),
    );
  });

  it('divides a folder into splits as training does: by its split folders, or a tenth held out of a plain one', () => {
    const names = Array.from({ length: 300 }, (_, i) => `Male/${i}.jpg`);
    const out = names.filter(isHeldOut);
    const plain = dataset(names);
    expect(plain.entries.filter(inSplit(plain, 'Validation')).map((e) => e.name)).toEqual(out);
    expect(plain.entries.filter(inSplit(plain, 'Train'))).toHaveLength(names.length - out.length);
    expect(plain.entries.filter(inSplit(plain, 'Test'))).toEqual([]);

    const splits = ['Train', 'Validation', 'Test'] as const;
    const kaggle: Dataset = {
      ...plain,
      layout: 'kaggle',
      entries: splits.flatMap((split) => names.map((n) => ({ name: `${split}/${n}`, split }) as DatasetEntry)),
    };
    for (const split of splits) {
      const taken = kaggle.entries.filter(inSplit(kaggle, split));
      expect(taken).toHaveLength(names.length);
      expect(taken.every((e) => e.split === split)).toBe(true);
    }
  });

  it('holds out about a tenth of the files, each by its name alone', () => {
    const names = Array.from({ length: 5000 }, (_, i) => `Male/fairface-train_${i}.jpg`);
    const out = names.filter(isHeldOut);
    expect(out.length / names.length).toBeGreaterThan(0.08);
    expect(out.length / names.length).toBeLessThan(0.12);
    // Adding files beside them moves none of them across.
    const more = [...names, ...Array.from({ length: 500 }, (_, i) => `Female/aaf_${i}.jpg`)];
    expect(more.filter(isHeldOut).filter((n) => n.startsWith('Male/'))).toEqual(out);
  });
});
