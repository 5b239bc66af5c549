// Builds a folder in the layout of the Kaggle download "gender-recognition-200k-images-celeba",
// Dataset/{Train,Validation,Test}/{Male,Female}/*.jpg, with 200,000 images made from the shared face data, to
// measure prepare-data and training at that scale (README, "Training at 200,000 images"). It is never written
// inside the repository.
//
// The shared data holds about 41,000 photos, so each is used several times. By default every file gets its own
// bytes: a JPEG comment naming the file is added to a copy, so the crop cache (keyed by content) crops every one of
// the 200,000, as it would the real download, while the pixels, and so the decode and detection work, stay those
// of a real photo. --links makes hard links instead: the same content under many names, which measures the other
// case, a cache that crops each distinct photo once and only reads and hashes the rest.
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MARKER = 'make-kaggle-200k.json';
const SPLITS = { Train: 0.8, Validation: 0.1, Test: 0.1 };
const CLASSES = ['Female', 'Male'];

const HELP = `Usage: node scripts/make-kaggle-200k.mjs [options]

Builds a Kaggle-layout folder of --count images, Dataset/{Train,Validation,Test}/{Male,Female}/*.jpg (80 / 10 /
10 %), from the shared face data: CelebA's Kaggle subset, each split from the same split, and with --with-diverse
the diverse folder's photos in Train too. Prints where it wrote and how much.

  --out <dir>        where to build it (default: facesense-kaggle-200k/Dataset beside the checkout); never
                     inside the repository. A folder this script built before is replaced; any other folder
                     that is not empty is refused
  --count <n>        images in all (default 200000)
  --data <dir>       the shared data (default: $FACESENSE_DATA, else ../shared/data beside the checkout)
  --with-diverse     add the diverse folder's photos to Train's sources
  --links            hard links to the shared photos instead of copies with their own bytes (the out folder must
                     be on the same file system)
  -h, --help         this text`;

function fail(message) {
  console.error(`make-kaggle-200k: ${message}`);
  process.exit(1);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      out: { type: 'string', default: join(REPO, '..', 'facesense-kaggle-200k', 'Dataset') },
      count: { type: 'string', default: '200000' },
      data: { type: 'string', default: process.env.FACESENSE_DATA ?? join(REPO, '..', 'shared', 'data') },
      'with-diverse': { type: 'boolean', default: false },
      links: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail(`${err.message} (see --help)`);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const count = Number(values.count);
if (!Number.isInteger(count) || count < 10) fail(`--count must be an integer ≥ 10, got "${values.count}"`);
const out = resolve(values.out);
const data = resolve(values.data);
const fromRepo = relative(REPO, out);
if (!(fromRepo === '..' || fromRepo.startsWith(`..${sep}`) || isAbsolute(fromRepo)))
  fail(`${out} is inside the repository ${REPO}: pass an --out folder outside it (the images must never be committed)`);

/** The photos of one class folder, sorted. */
function photos(dir) {
  if (!existsSync(dir)) fail(`no folder ${dir}: is --data (${data}) the shared face data?`);
  return readdirSync(dir)
    .filter((f) => /\.jpe?g$/i.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f));
}

/** Fisher–Yates with a fixed seed (mulberry32): the same folder every time. */
function shuffle(list, seed) {
  let a = seed;
  const random = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** Each split's source photos with their class, shuffled so that any first part of it mixes classes and folders. */
const sources = Object.fromEntries(
  Object.keys(SPLITS).map((split, i) => [
    split,
    shuffle(
      CLASSES.flatMap((cls) => {
        const own = photos(join(data, 'celeba', 'Dataset', split, cls));
        const diverse = values['with-diverse'] && split === 'Train' ? photos(join(data, 'diverse', cls)) : [];
        return [...own, ...diverse].map((path) => ({ path, cls }));
      }),
      i + 1,
    ),
  ]),
);

if (existsSync(out) && readdirSync(out).length > 0) {
  if (!existsSync(join(out, MARKER)))
    fail(`${out} exists and was not made by this script: pass another --out, or empty it first`);
  for (const entry of [...Object.keys(SPLITS), MARKER]) rmSync(join(out, entry), { recursive: true, force: true });
}
for (const split of Object.keys(SPLITS))
  for (const cls of CLASSES) mkdirSync(join(out, split, cls), { recursive: true });

/**
 * The JPEG with a comment segment (FF FE) holding `text`, put after the APPn segments that must come first. The
 * comment makes the bytes, and so the content key, unique; decoders skip it, so the pixels are the photo's.
 */
function withComment(jpeg, text, path) {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) fail(`${path} is not a JPEG file`);
  let at = 2;
  while (jpeg[at] === 0xff && jpeg[at + 1] >= 0xe0 && jpeg[at + 1] <= 0xef) at += 2 + jpeg.readUInt16BE(at + 2);
  const body = Buffer.from(text, 'utf8');
  const segment = Buffer.alloc(4 + body.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(2 + body.length, 2);
  body.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, at), segment, jpeg.subarray(at)]);
}

const started = performance.now();
const made = {};
let bytes = 0;
let number = 0;
/** Writes in flight: enough to keep the disk busy, few enough to bound memory. */
const pending = new Set();
const write = async (path, buffer) => {
  const done = writeFile(path, buffer).finally(() => pending.delete(done));
  pending.add(done);
  if (pending.size >= 64) await Promise.race(pending);
};
const splitNames = Object.keys(SPLITS);
const targets = splitNames.map((split, i) => (i < splitNames.length - 1 ? Math.round(count * SPLITS[split]) : 0));
targets[targets.length - 1] = count - targets.slice(0, -1).reduce((a, b) => a + b, 0);
for (const [i, split] of splitNames.entries()) {
  const pool = sources[split];
  if (pool.length === 0) fail(`no photos for ${split} under ${join(data, 'celeba', 'Dataset', split)}`);
  const target = targets[i];
  for (let s = 0; s < pool.length && s < target; s++) {
    const { path, cls } = pool[s];
    const jpeg = values.links ? null : readFileSync(path);
    const stem = basename(path, extname(path));
    // CelebA photos get Kaggle's six-digit names; the others keep theirs (they name their collection) plus a copy number.
    for (let copy = 0, k = s; k < target; copy++, k += pool.length) {
      number++;
      const name = /^\d{6}$/.test(stem) ? `${String(number).padStart(6, '0')}.jpg` : `${stem}_${copy}.jpg`;
      const dest = join(out, split, cls, name);
      if (values.links) {
        try {
          linkSync(path, dest);
        } catch (err) {
          if (err.code === 'EXDEV') fail(`${out} is on another file system than ${data}: drop --links, or move --out`);
          throw err;
        }
      } else {
        const unique = withComment(jpeg, `facesense-200k ${split}/${cls}/${name}`, path);
        bytes += unique.length;
        await write(dest, unique);
      }
      made[`${split}/${cls}`] = (made[`${split}/${cls}`] ?? 0) + 1;
    }
  }
}
await Promise.all(pending);

if (values.links) {
  for (const split of splitNames)
    for (const cls of CLASSES)
      for (const f of readdirSync(join(out, split, cls))) bytes += statSync(join(out, split, cls, f)).size;
}
writeFileSync(
  join(out, MARKER),
  JSON.stringify({ count, links: values.links, withDiverse: values['with-diverse'], data, made }, null, 1) + '\n',
);
const distinct = splitNames.reduce((n, split, i) => n + Math.min(sources[split].length, targets[i]), 0);
const gib = (b) => (b < 2 ** 30 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 2 ** 30).toFixed(2)} GiB`);
console.log(
  [
    `wrote ${count} images to ${out} in ${((performance.now() - started) / 1000).toFixed(0)} s:`,
    ...splitNames.flatMap((split) => CLASSES.map((cls) => `  ${split}/${cls}: ${made[`${split}/${cls}`] ?? 0}`)),
    values.links
      ? `  ${gib(bytes)} of images as hard links to ${distinct} distinct photos (no new space on disk): the crop ` +
        'cache crops each photo once'
      : `  ${gib(bytes)} on disk; every file has its own bytes (a JPEG comment), so the crop cache crops all ` +
        `${count}, made from ${distinct} distinct photos`,
    `measure with a crop cache of its own, e.g.:`,
    `  FACESENSE_CROP_CACHE=${join(dirname(out), 'crops')} /usr/bin/time -v npm run prepare-data -- --data ${out}`,
  ].join('\n'),
);
