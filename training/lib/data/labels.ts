import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crossedColumns, parseCsv, rowGroup, type Csv } from '../../../src/core/groups';

/** A data folder's labels.csv (race, age… of each image, by its path in the folder), or null when it has none. */
export function readLabels(root: string): Csv | null {
  const file = join(root, 'labels.csv');
  return existsSync(file) ? parseCsv(readFileSync(file, 'utf8')) : null;
}

/**
 * The group in `column` of the folder's labels.csv (ages banded) of each image, by its index in `names` (paths in
 * the folder); null when the folder has no labels.csv with a "file" column and that one (each one of a cross,
 * as `rowGroup` reads it).
 */
export function labelGroups(
  root: string,
  column: string,
  names: readonly string[],
): ((index: number) => string | null) | null {
  const csv = readLabels(root);
  if (!csv?.columns.includes('file') || !crossedColumns(column).every((c) => csv.columns.includes(c))) return null;
  const rows = new Map(csv.rows.map((row) => [row.file, row]));
  return (index) => rowGroup(column, rows.get(names[index]));
}

/** Every image's group in `column`, in the order of `names`; null as `labelGroups` is. */
export function groupsOf(root: string, column: string, names: readonly string[]): (string | null)[] | null {
  const groupOfIndex = labelGroups(root, column, names);
  return groupOfIndex && names.map((_, i) => groupOfIndex(i));
}

/** An auxiliary head's column and its classes, in the order of its outputs. */
export interface AuxHead {
  column: string;
  groups: string[];
}

/**
 * For multi-task training: each image's class in each of `columns` of its folder's labels.csv, image by image over
 * the folders in order (int32, −1 where a folder or row lacks it), and each column's classes: `known`'s where given
 * (a resumed run keeps its heads' order), else every group found, sorted. Throws when no folder has a column.
 */
export function auxClasses(
  folders: ReadonlyArray<{ root: string; names: readonly string[] }>,
  columns: readonly string[],
  known?: readonly AuxHead[],
): { heads: AuxHead[]; classes: Int32Array } {
  const values = columns.map((column) => folders.map(({ root, names }) => groupsOf(root, column, names)));
  const heads = columns.map((column, h) => {
    const groups =
      known?.find((head) => head.column === column)?.groups ??
      [...new Set(values[h].flatMap((v) => v ?? []).filter((g): g is string => g !== null))].sort();
    if (groups.length === 0) throw new Error(`no folder's labels.csv has a "${column}" column with values`);
    return { column, groups };
  });
  const total = folders.reduce((n, f) => n + f.names.length, 0);
  const classes = new Int32Array(total * columns.length).fill(-1);
  heads.forEach(({ groups }, h) => {
    let offset = 0;
    folders.forEach(({ names }, k) => {
      values[h][k]?.forEach((group, i) => {
        if (group !== null) classes[(offset + i) * columns.length + h] = groups.indexOf(group);
      });
      offset += names.length;
    });
  });
  return { heads, classes };
}

/** The rows of `auxClasses`'s classes for the images at `indices`, as a batch's [n, heads] int32 values. */
export function auxRows(classes: Int32Array, heads: number, indices: ArrayLike<number>): Int32Array {
  const rows = new Int32Array(indices.length * heads);
  for (let i = 0; i < indices.length; i++)
    rows.set(classes.subarray(indices[i] * heads, (indices[i] + 1) * heads), i * heads);
  return rows;
}
