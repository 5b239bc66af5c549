import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupOf, parseCsv, type Csv } from '../../../src/core/groups';

/** A data folder's labels.csv (race, age… of each image, by its path in the folder), or null when it has none. */
export function readLabels(root: string): Csv | null {
  const file = join(root, 'labels.csv');
  return existsSync(file) ? parseCsv(readFileSync(file, 'utf8')) : null;
}

/**
 * The group in `column` of the folder's labels.csv (ages banded) of each image, by its index in `names` (paths in
 * the folder); null when the folder has no labels.csv with a "file" column and that one.
 */
export function labelGroups(
  root: string,
  column: string,
  names: readonly string[],
): ((index: number) => string | null) | null {
  const csv = readLabels(root);
  if (!csv?.columns.includes('file') || !csv.columns.includes(column)) return null;
  const values = new Map(csv.rows.map((row) => [row.file, row[column]]));
  return (index) => groupOf(column, values.get(names[index]));
}

/** Every image's group in `column`, in the order of `names`; null as `labelGroups` is. */
export function groupsOf(root: string, column: string, names: readonly string[]): (string | null)[] | null {
  const groupOfIndex = labelGroups(root, column, names);
  return groupOfIndex && names.map((_, i) => groupOfIndex(i));
}
