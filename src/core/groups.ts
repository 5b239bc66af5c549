/**
 * Accuracy per group of people (race, age band, any column of a dataset's labels.csv). A model can do well on
 * average and much worse for one group; these name the worst group and the gap. Pure functions shared by the
 * evaluate CLI and tests.
 */
import { accuracy, balancedAccuracy, confusion, perClass, type Confusion } from './metrics';

export interface Csv {
  columns: string[];
  /** One object per data row, keyed by column name; a short row's missing fields are ''. */
  rows: Record<string, string>[];
}

/**
 * Parses CSV text whose first row names the columns. Quoted fields may hold commas, line breaks and doubled
 * quotes (`"say ""hi"""`); lines end in LF or CRLF; blank lines and a byte order mark are ignored.
 */
export function parseCsv(text: string): Csv {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  const s = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (s[i + 1] === '"') field += s[i++];
      else quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && s[i + 1] === '\n') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || record.length > 0) records.push([...record, field]);
  const [header = [], ...body] = records.filter((r) => r.length > 1 || r[0] !== '');
  const columns = header.map((c) => c.trim());
  return { columns, rows: body.map((r) => Object.fromEntries(columns.map((c, k) => [c, r[k] ?? '']))) };
}

/** The bands: 0–12, 13–19, 20–39, 40–59, 60+. */
function bandOf(age: number): string {
  if (age < 13) return '0–12';
  if (age < 20) return '13–19';
  if (age < 40) return '20–39';
  return age < 60 ? '40–59' : '60+';
}

/**
 * The age band of an age value. A number (`13`) is banded by itself; a range (`30-39`) by its midpoint, so
 * FairFace's `0-2` and `3-9` are `0–12` and its `10-19` is `13–19` (though it holds some children of 10–12); an
 * open range (`more than 70`, `70+`) by its bound. Blank is null: no group. Anything else is kept as written,
 * so that no image leaves the table unseen.
 */
export function ageBand(value: string): string | null {
  const v = value.trim();
  if (v === '') return null;
  const range = /^(\d+)\s*[-–]\s*(\d+)$/.exec(v);
  if (range) return bandOf((Number(range[1]) + Number(range[2])) / 2);
  const open = /^(?:more than\s*(\d+)|(\d+)\s*\+)$/i.exec(v);
  if (open) return bandOf(Number(open[1] ?? open[2]));
  return /^\d+$/.test(v) ? bandOf(Number(v)) : v;
}

/**
 * The group a labels.csv value puts an image in: `age` columns by band, others as written (trimmed). Blank, or no
 * row for the image (undefined), is null: the image is in no group of that column.
 */
export function groupOf(column: string, value: string | undefined): string | null {
  if (column.trim().toLowerCase() === 'age') return ageBand(value ?? '');
  const v = (value ?? '').trim();
  return v === '' ? null : v;
}

/** The labels.csv columns that `column` names: itself, or each of a cross joined by "+" ("race+age"). */
export function crossedColumns(column: string): string[] {
  return column.split('+').map((c) => c.trim());
}

/**
 * The group a labels.csv row puts an image in, as `groupOf`; a cross of columns ("race+age") joins their groups
 * ("Black 60+"), leaving out those the row lacks, so a face with an age and no race is grouped by its age alone.
 */
export function rowGroup(column: string, row: Readonly<Record<string, string>> | undefined): string | null {
  const parts = crossedColumns(column).flatMap((c) => groupOf(c, row?.[c]) ?? []);
  return parts.length > 0 ? parts.join(' ') : null;
}

export interface GroupRecord {
  group: string;
  /** 1 = male. */
  label: number;
  /** null when no face was found in the image. */
  probabilityMale: number | null;
}

export interface GroupStats {
  /** Images in the group. */
  n: number;
  facesFound: number;
  /** On the faces found; null without any. */
  accuracy: number | null;
  /** Null unless faces of both classes were found. */
  balancedAccuracy: number | null;
  /** Null without a female face. */
  femaleRecall: number | null;
  /** Null without a male face. */
  maleRecall: number | null;
}

/**
 * The records of images with a group: `groups[i]`, `labels[i]` and `probabilities[i]` belong to image i, whose
 * probability is null where no face was found.
 */
export function groupRecords(
  groups: readonly (string | null)[],
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number | null>,
): GroupRecord[] {
  return groups.flatMap((group, i) =>
    group === null ? [] : [{ group, label: labels[i], probabilityMale: probabilities[i] }],
  );
}

/** Figures per group, groups in natural order (`2` before `10`); a face counts as male at p ≥ `threshold`. */
export function groupStats(records: readonly GroupRecord[], threshold = 0.5): Record<string, GroupStats> {
  const byGroup = new Map<string, GroupRecord[]>();
  for (const r of records) {
    const rs = byGroup.get(r.group);
    if (rs) rs.push(r);
    else byGroup.set(r.group, [r]);
  }
  const order = ([a]: [string, unknown], [b]: [string, unknown]) => a.localeCompare(b, 'en', { numeric: true });
  return Object.fromEntries(
    [...byGroup].sort(order).map(([group, rs]) => {
      const faces = rs.filter((r) => r.probabilityMale !== null);
      const c = confusion(
        faces.map((r) => r.probabilityMale as number),
        faces.map((r) => r.label),
        threshold,
      );
      const { male, female } = perClass(c);
      const stats: GroupStats = {
        n: rs.length,
        facesFound: faces.length,
        accuracy: faces.length > 0 ? accuracy(c) : null,
        balancedAccuracy: male.n > 0 && female.n > 0 ? balancedAccuracy(c) : null,
        femaleRecall: female.n > 0 ? female.recall : null,
        maleRecall: male.n > 0 ? male.recall : null,
      };
      return [group, stats];
    }),
  );
}

/** Fewer faces than this and one mistake moves a group's accuracy by 5 points or more: too few to rank it. */
export const MIN_GROUP_FACES = 20;

export interface Spread {
  worst: { group: string; accuracy: number } | null;
  best: { group: string; accuracy: number } | null;
  /** Best minus worst accuracy. */
  gap: number | null;
}

/**
 * The worst and the best group by accuracy, among groups with at least `minFaces` faces found (accuracy counts
 * only those), and the gap between them; all null when fewer than two groups qualify. Ties go to the group first
 * in order.
 */
export function spread(stats: Record<string, GroupStats>, minFaces = MIN_GROUP_FACES): Spread {
  const ranked = Object.entries(stats).flatMap(([group, s]) =>
    s.accuracy !== null && s.facesFound >= minFaces ? [{ group, accuracy: s.accuracy }] : [],
  );
  if (ranked.length < 2) return { worst: null, best: null, gap: null };
  const worst = ranked.reduce((w, g) => (g.accuracy < w.accuracy ? g : w));
  const best = ranked.reduce((b, g) => (g.accuracy > b.accuracy ? g : b));
  return { worst, best, gap: best.accuracy - worst.accuracy };
}

/** Over several columns' spreads: the worst group of all (first column first on ties) and each column's gap. */
export function compareGroups(spreads: Record<string, Spread>) {
  let worstGroup: { column: string; group: string; accuracy: number } | null = null;
  const groupGap: Record<string, number | null> = {};
  for (const [column, { worst, gap }] of Object.entries(spreads)) {
    groupGap[column] = gap;
    if (worst && (!worstGroup || worst.accuracy < worstGroup.accuracy)) worstGroup = { column, ...worst };
  }
  return { worstGroup, groupGap };
}

/** A group of one data folder, and its accuracy. */
export interface FolderGroup {
  folder: string;
  group: string;
  accuracy: number;
}

/**
 * The worst group over several folders' faces, each folder's groups ranked apart (one folder's "Black" is not
 * another's), among groups with at least `minFaces` faces found; null when no folder has two such groups.
 */
export function worstGroupOfFolders(
  folders: Record<string, readonly GroupRecord[]>,
  minFaces = MIN_GROUP_FACES,
): FolderGroup | null {
  const spreads = Object.entries(folders).map(([folder, records]) => [folder, spread(groupStats(records), minFaces)]);
  // compareGroups ranks columns' spreads; here each folder stands where a column would.
  const { worstGroup } = compareGroups(Object.fromEntries(spreads));
  return worstGroup && { folder: worstGroup.column, group: worstGroup.group, accuracy: worstGroup.accuracy };
}

/** Female recall minus male recall: above 0 the model misses men more often than women, below 0 women more often. */
export function recallGap(c: Confusion): number {
  const { female, male } = perClass(c);
  return female.recall - male.recall;
}
