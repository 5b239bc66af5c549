import { describe, expect, it } from 'vitest';
import { selectSplit } from '../../training/cli/common';
import type { Dataset, DatasetEntry, Split } from '../../training/lib/data/dataset';
import { isHeldOut } from '../../training/lib/data/splits';

function dataset(layout: Dataset['layout'], splits: readonly (Split | null)[]): Dataset {
  const entries: DatasetEntry[] = splits.flatMap((split) =>
    Array.from({ length: 40 }, (_, i) => {
      const name = `${split ? `${split}/` : ''}${i % 2 ? 'Male' : 'Female'}/${i}.jpg`;
      return { path: `/data/${name}`, name, split, label: (i % 2) as 0 | 1, size: 1, mtimeMs: 0 };
    }),
  );
  return { root: '/data', layout, entries, skipped: [], missingSplits: [] };
}

const names = (d: Dataset, given: string | undefined) =>
  d.entries.filter(selectSplit(d, given).wanted).map((e) => e.name);

describe('selectSplit', () => {
  const plain = dataset('flat', [null]);
  const kaggle = dataset('kaggle', ['Train', 'Validation', 'Test']);

  it("reads a plain folder's Validation as the tenth training holds out, Train as the rest, and no --split as all", () => {
    const all = plain.entries.map((e) => e.name);
    expect(all.filter(isHeldOut).length).toBeGreaterThan(0);
    expect(names(plain, 'Validation')).toEqual(all.filter(isHeldOut));
    expect(names(plain, 'train')).toEqual(all.filter((n) => !isHeldOut(n)));
    expect(names(plain, undefined)).toEqual(all);
    expect(selectSplit(plain, undefined).split).toBeNull();
  });

  it("reads a Kaggle folder's split folders, Test when none is given", () => {
    expect(selectSplit(kaggle, undefined).split).toBe('Test');
    expect(names(kaggle, undefined)).toEqual(kaggle.entries.filter((e) => e.split === 'Test').map((e) => e.name));
    expect(names(kaggle, 'validation')).toEqual(
      kaggle.entries.filter((e) => e.split === 'Validation').map((e) => e.name),
    );
  });
});
