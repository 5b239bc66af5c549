import { describe, expect, it } from 'vitest';
import {
  ageBand,
  compareGroups,
  crossedColumns,
  groupOf,
  groupRecords,
  groupStats,
  MIN_GROUP_FACES,
  parseCsv,
  recallGap,
  rowGroup,
  spread,
  worstGroupOfFolders,
  type GroupStats,
} from '../../src/core/groups';

describe('parseCsv', () => {
  it('keys rows by the header, with quoted commas, doubled quotes, CRLF, blank lines and short rows', () => {
    const text =
      'file,label,race,age\r\nMale/a.jpg,Male,White,30-39\r\n"Female/b, c.jpg",Female,"Say ""hi""",\n\nshort\n';
    expect(parseCsv(text)).toEqual({
      columns: ['file', 'label', 'race', 'age'],
      rows: [
        { file: 'Male/a.jpg', label: 'Male', race: 'White', age: '30-39' },
        { file: 'Female/b, c.jpg', label: 'Female', race: 'Say "hi"', age: '' },
        { file: 'short', label: '', race: '', age: '' },
      ],
    });
  });

  it('keeps line breaks inside quotes, drops a byte order mark, needs no final newline', () => {
    expect(parseCsv('\uFEFFa,b\n"x\ny",2')).toEqual({ columns: ['a', 'b'], rows: [{ a: 'x\ny', b: '2' }] });
  });

  it('reads a header alone or nothing at all as no rows', () => {
    expect(parseCsv('a,b\n')).toEqual({ columns: ['a', 'b'], rows: [] });
    expect(parseCsv('')).toEqual({ columns: [], rows: [] });
  });
});

describe('ageBand', () => {
  it('bands a numeric age, its edges included', () => {
    const bands = Object.fromEntries(
      ['0', '12', '13', '19', '20', '39', '40', '59', '60', '85'].map((a) => [a, ageBand(a)]),
    );
    expect(bands).toEqual({
      '0': '0–12',
      '12': '0–12',
      '13': '13–19',
      '19': '13–19',
      '20': '20–39',
      '39': '20–39',
      '40': '40–59',
      '59': '40–59',
      '60': '60+',
      '85': '60+',
    });
    expect(ageBand(' 45 ')).toBe('40–59');
  });

  it("bands FairFace's ranges by their midpoint and open ranges by their bound", () => {
    const fairFace = ['0-2', '3-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', 'more than 70'];
    expect(fairFace.map(ageBand)).toEqual(['0–12', '0–12', '13–19', '20–39', '20–39', '40–59', '40–59', '60+', '60+']);
    // Midpoints 12.5 and 19.5: the lower band.
    expect(['12-13', '18–21', '70+', 'More than 12'].map(ageBand)).toEqual(['0–12', '13–19', '60+', '0–12']);
  });

  it('gives no band for a blank and keeps any other text as written', () => {
    expect(ageBand('')).toBeNull();
    expect(ageBand('  ')).toBeNull();
    expect(ageBand('adult')).toBe('adult');
  });
});

describe('groupOf', () => {
  it('bands age columns, trims other values, and puts blanks and missing rows in no group', () => {
    expect(groupOf('race', ' White ')).toBe('White');
    expect(groupOf('race', '')).toBeNull();
    expect(groupOf('race', undefined)).toBeNull();
    expect(groupOf('Age', '30-39')).toBe('20–39');
    expect(groupOf('age', undefined)).toBeNull();
    expect(groupOf('source', '13')).toBe('13');
  });
});

describe('rowGroup', () => {
  const row = { race: 'Black', age: '60-69', sex: '' };

  it('reads one column as groupOf does, and none from a missing row', () => {
    expect(rowGroup('race', row)).toBe('Black');
    expect(rowGroup('age', row)).toBe('60+');
    expect(rowGroup('sex', row)).toBeNull();
    expect(rowGroup('race', undefined)).toBeNull();
  });

  it('crosses columns joined by +, leaving out those the row lacks', () => {
    expect(crossedColumns('race + age')).toEqual(['race', 'age']);
    expect(rowGroup('race+age', row)).toBe('Black 60+');
    expect(rowGroup('sex+age', row)).toBe('60+');
    expect(rowGroup('sex+note', row)).toBeNull();
  });
});

describe('groupRecords', () => {
  it('pairs each face with a group with its label and probability, leaving out faces without one', () => {
    expect(groupRecords(['a', null, 'b'], [1, 0, 0], [0.9, 0.4, 0.2])).toEqual([
      { group: 'a', label: 1, probabilityMale: 0.9 },
      { group: 'b', label: 0, probabilityMale: 0.2 },
    ]);
  });

  it('keeps an image without a face in its group, with a null probability, so it counts against faces found', () => {
    const records = groupRecords(['a', 'a'], [1, 0], [0.9, null]);
    expect(records).toEqual([
      { group: 'a', label: 1, probabilityMale: 0.9 },
      { group: 'a', label: 0, probabilityMale: null },
    ]);
    expect(groupStats(records).a).toMatchObject({ n: 2, facesFound: 1 });
  });
});

describe('groupStats', () => {
  const records = [
    // g2: males 0.9 (right), 0.4 (wrong), no face; females 0.2, 0.1 (right), 0.6 (wrong).
    { group: 'g2', label: 1, probabilityMale: 0.9 },
    { group: 'g2', label: 1, probabilityMale: 0.4 },
    { group: 'g2', label: 1, probabilityMale: null },
    { group: 'g2', label: 0, probabilityMale: 0.2 },
    { group: 'g2', label: 0, probabilityMale: 0.1 },
    { group: 'g2', label: 0, probabilityMale: 0.6 },
    // g10: males only, 0.5 is male at the threshold 0.5.
    { group: 'g10', label: 1, probabilityMale: 0.8 },
    { group: 'g10', label: 1, probabilityMale: 0.5 },
    // h: no face at all.
    { group: 'h', label: 0, probabilityMale: null },
  ];

  it('counts images and faces and scores the faces found, per group in natural order', () => {
    const stats = groupStats(records);
    expect(Object.keys(stats)).toEqual(['g2', 'g10', 'h']);
    // g2: 3 of 5 faces right; male recall 1/2, female recall 2/3, balanced (1/2 + 2/3) / 2 = 7/12.
    expect(stats.g2).toEqual({
      n: 6,
      facesFound: 5,
      accuracy: 0.6,
      balancedAccuracy: expect.closeTo(7 / 12, 12),
      femaleRecall: expect.closeTo(2 / 3, 12),
      maleRecall: 0.5,
    });
    expect(stats.g10).toEqual({
      n: 2,
      facesFound: 2,
      accuracy: 1,
      balancedAccuracy: null,
      femaleRecall: null,
      maleRecall: 1,
    });
    expect(stats.h).toEqual({
      n: 1,
      facesFound: 0,
      accuracy: null,
      balancedAccuracy: null,
      femaleRecall: null,
      maleRecall: null,
    });
  });

  it('applies the threshold given', () => {
    // At 0.7, g10's 0.5 is called female: 1 of 2 right. g2's female at 0.6 becomes right: 4 of 5.
    const stats = groupStats(records, 0.7);
    expect(stats.g10.accuracy).toBe(0.5);
    expect(stats.g2.accuracy).toBeCloseTo(0.8);
    expect(stats.g2.femaleRecall).toBe(1);
  });

  it('gives nothing for no records', () => {
    expect(groupStats([])).toEqual({});
  });
});

function stat(accuracy: number | null, facesFound: number): GroupStats {
  return {
    n: facesFound,
    facesFound,
    accuracy,
    balancedAccuracy: accuracy,
    femaleRecall: accuracy,
    maleRecall: accuracy,
  };
}

describe('spread', () => {
  const stats = {
    a: stat(0.9, 30),
    b: stat(0.8, MIN_GROUP_FACES),
    c: stat(0.5, MIN_GROUP_FACES - 1),
    d: stat(null, 0),
  };

  it('ranks only groups with enough faces found', () => {
    const s = spread(stats);
    expect(s.worst).toEqual({ group: 'b', accuracy: 0.8 });
    expect(s.best).toEqual({ group: 'a', accuracy: 0.9 });
    expect(s.gap).toBeCloseTo(0.1);
    const all = spread(stats, 1);
    expect(all.worst).toEqual({ group: 'c', accuracy: 0.5 });
    expect(all.gap).toBeCloseTo(0.4);
  });

  it('needs two groups to compare, and gives ties to the first', () => {
    expect(spread({ a: stat(0.9, 30), c: stat(0.5, 3) })).toEqual({ worst: null, best: null, gap: null });
    expect(spread({})).toEqual({ worst: null, best: null, gap: null });
    expect(spread({ a: stat(0.8, 30), b: stat(0.8, 30) })).toEqual({
      worst: { group: 'a', accuracy: 0.8 },
      best: { group: 'a', accuracy: 0.8 },
      gap: 0,
    });
  });
});

describe('compareGroups', () => {
  it('finds the worst group over all columns, first column on ties, and each column’s gap', () => {
    const byColumn = {
      race: { x: stat(0.9, 30), y: stat(0.7, 30) },
      age: { p: stat(0.7, 30), q: stat(0.95, 30) },
      all: { all: stat(0.85, 60) },
    };
    const spreads = (minFaces?: number) =>
      Object.fromEntries(Object.entries(byColumn).map(([column, stats]) => [column, spread(stats, minFaces)]));
    const { worstGroup, groupGap } = compareGroups(spreads());
    expect(worstGroup).toEqual({ column: 'race', group: 'y', accuracy: 0.7 });
    expect(groupGap).toEqual({ race: expect.closeTo(0.2, 12), age: expect.closeTo(0.25, 12), all: null });
    expect(compareGroups(spreads(100))).toEqual({ worstGroup: null, groupGap: { race: null, age: null, all: null } });
    expect(compareGroups({})).toEqual({ worstGroup: null, groupGap: {} });
  });
});

describe('worstGroupOfFolders', () => {
  /** `n` faces of `group`, male, the first `right` of them classified right. */
  const faces = (group: string, n: number, right: number) =>
    Array.from({ length: n }, (_, i) => ({ group, label: 1, probabilityMale: i < right ? 0.9 : 0.1 }));

  it('ranks each folder’s groups apart and names the folder of the worst', () => {
    const folders = {
      // "a" of the two folders together would be 30 of 40 right, above b's 15 of 20.
      one: [...faces('a', 20, 20), ...faces('b', 20, 15)],
      two: [...faces('a', 20, 10), ...faces('c', 20, 19)],
      three: [...faces('a', 40, 40)],
    };
    expect(worstGroupOfFolders(folders)).toEqual({ folder: 'two', group: 'a', accuracy: 0.5 });
  });

  it('leaves out groups with too few faces, and is null when no folder has two groups to rank', () => {
    const folders = { one: [...faces('a', 20, 18), ...faces('b', 5, 0)], two: [...faces('c', 20, 12)] };
    expect(worstGroupOfFolders(folders)).toBeNull();
    expect(worstGroupOfFolders(folders, 5)).toEqual({ folder: 'one', group: 'b', accuracy: 0 });
    expect(worstGroupOfFolders({})).toBeNull();
  });
});

describe('recallGap', () => {
  it('is female recall minus male recall', () => {
    // Male recall 9/10, female recall 6/10.
    expect(recallGap({ tp: 9, fn: 1, tn: 6, fp: 4 })).toBeCloseTo(-0.3);
    expect(recallGap({ tp: 1, fn: 1, tn: 4, fp: 0 })).toBeCloseTo(0.5);
  });
});
