/**
 * A learning curve's data (issue 15; §42 of docs/experiments.md): links a stable share of a plain {Male,Female}
 * folder's Train files, and every file of its held-out tenth, into a new folder of the same name, with its
 * labels.csv, so that runs on a half or a quarter of Train validate on the same faces as a run on all of it. Each
 * file is kept by a hash of its name, so each class keeps about its share, and a quarter lies inside the half. Run:
 *   npx tsx training/experiments/data-subset.ts --share 0.5 --out /tmp/lc50 ../shared/data/diverse
 * and train with --data /tmp/lc50/diverse (the crop cache knows the linked files by their content).
 */
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { countBy, listDataset } from '../lib/data/dataset';
import { isHeldOut, nameHash } from '../lib/data/splits';

const { values, positionals } = parseArgs({
  options: { share: { type: 'string' }, out: { type: 'string' } },
  allowPositionals: true,
});
const share = Number(values.share);
if (!values.out || positionals.length !== 1 || !(share > 0 && share <= 1)) {
  console.error('usage: data-subset.ts --share <0–1> --out <dir> <plain data dir>');
  process.exit(2);
}
const source = resolve(positionals[0]);
const dataset = listDataset(source);
if (dataset.layout !== 'flat') {
  console.error(`${source} has its own splits: only a plain {Male,Female} folder holds out a tenth`);
  process.exit(2);
}
const target = join(resolve(values.out), basename(source));
if (existsSync(target)) {
  console.error(`${target} exists: give --out a new folder`);
  process.exit(2);
}
const heldOut = dataset.entries.filter((e) => isHeldOut(e.name));
const allTrain = dataset.entries.filter((e) => !isHeldOut(e.name));
// Salted, so that which Train files are kept does not follow which are held out.
const train = allTrain.filter((e) => nameHash(`subset:${e.name}`) / 2 ** 32 < share);
for (const entry of [...train, ...heldOut]) {
  const link = join(target, entry.name);
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(entry.path, link);
}
if (existsSync(join(source, 'labels.csv'))) copyFileSync(join(source, 'labels.csv'), join(target, 'labels.csv'));
console.log(
  `${target}: ${train.length} Train files of ${allTrain.length} (${JSON.stringify(countBy(train))}), ` +
    `and ${heldOut.length} held out`,
);
