import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CELEBA, DATA_DIR, hasData } from '../support/data';

const ROOT = join(__dirname, '..', '..');

/** Every file the CLIs must skip, with the reason they must give. Relative to the dataset root. */
const BAD: Record<string, RegExp> = {
  'Train/Male/truncated.jpg': /premature end of JPEG/i,
  'Train/Male/random.jpg': /unsupported image format/,
  'Train/Male/empty.jpg': /empty file/,
  'Train/Male/notes.txt': /not an image file name/,
  'Train/Male/.hidden.jpg': /hidden file/,
  'Train/Male/loop.jpg': /symbolic link loop/,
  'Train/Male/more': /a folder/,
  'Train/Female/broken.jpg': /broken symbolic link/,
  'Test/Male/also-truncated.jpg': /premature end of JPEG/i,
};
const NO_FACE = ['Train/Female/tiny.jpg'];
/** Unusual but valid encodings of a face, each of which must give a crop. */
const ODD = ['alpha.png', 'deep16.png', 'gray.jpg', 'cmyk.jpg', 'exif-rotated.jpg', 'huge.jpg', 'Zoë 日本.jpg'];
const GOOD_LINKS = { Train: 8, Test: 4 };

/**
 * A Kaggle-layout folder with every kind of bad input next to links to real CelebA faces: no Validation/ folder,
 * an empty Test/Female/, and the files of BAD, NO_FACE and ODD (the odd ones all made from one female face).
 * Returns the root and the names of the files that have a face.
 */
async function badDataset(): Promise<{ root: string; good: string[] }> {
  const root = mkdtempSync(join(tmpdir(), 'facesense-bad-'));
  const good: string[] = [];
  for (const [split, n] of Object.entries(GOOD_LINKS)) {
    for (const cls of ['Male', 'Female']) {
      mkdirSync(join(root, split, cls), { recursive: true });
      if (split === 'Test' && cls === 'Female') continue; // the empty class folder
      for (const file of readdirSync(join(CELEBA, split, cls))
        .sort()
        .slice(0, n)) {
        symlinkSync(join(CELEBA, split, cls, file), join(root, split, cls, file));
        good.push(`${split}/${cls}/${file}`);
      }
    }
  }
  const at = (name: string) => join(root, name);
  const jpeg = readFileSync(join(CELEBA, 'Train', 'Male', readdirSync(join(CELEBA, 'Train', 'Male')).sort()[0]));
  writeFileSync(at('Train/Male/truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  writeFileSync(at('Test/Male/also-truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  writeFileSync(at('Train/Male/random.jpg'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
  writeFileSync(at('Train/Male/empty.jpg'), '');
  writeFileSync(at('Train/Male/notes.txt'), 'not a photo\n');
  writeFileSync(at('Train/Male/.hidden.jpg'), jpeg);
  symlinkSync('loop.jpg', at('Train/Male/loop.jpg'));
  mkdirSync(at('Train/Male/more'));
  symlinkSync(at('Train/Female/no-such-file.jpg'), at('Train/Female/broken.jpg'));

  const face = join(CELEBA, 'Train', 'Female', readdirSync(join(CELEBA, 'Train', 'Female')).sort()[0]);
  const female = (name: string) => at(`Train/Female/${name}`);
  const transparent = { r: 0, g: 0, b: 0, alpha: 0 };
  await sharp(face)
    .ensureAlpha()
    .extend({ top: 16, bottom: 16, left: 16, right: 16, background: transparent })
    .png()
    .toFile(female('alpha.png'));
  await sharp(face).toColourspace('rgb16').png().toFile(female('deep16.png'));
  await sharp(face).toColourspace('b-w').jpeg().toFile(female('gray.jpg'));
  await sharp(face).toColourspace('cmyk').jpeg().toFile(female('cmyk.jpg'));
  // Stored lying on its side; EXIF orientation 6 says to turn it 90° clockwise to show it upright.
  await sharp(face).rotate(270).withMetadata({ orientation: 6 }).jpeg().toFile(female('exif-rotated.jpg'));
  await sharp(face).resize(6000, 6000, { fit: 'contain', background: '#777' }).jpeg().toFile(female('huge.jpg'));
  await sharp(face).resize(10, 10).jpeg().toFile(female('tiny.jpg'));
  symlinkSync(face, female('Zoë 日本.jpg'));
  good.push(...ODD.map((name) => `Train/Female/${name}`));
  return { root, good };
}

describe.skipIf(!hasData)(`training CLIs on bad data (${DATA_DIR})`, () => {
  const run = `robustness-${process.pid}`;
  let root: string;
  let good: string[];
  let work: string;
  const tsx = (script: string, args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'training', 'cli', script), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 900_000,
      // A crop cache of its own: the shared one may be in use by a training run.
      env: { ...process.env, FACESENSE_CROP_CACHE: join(work, 'crops') },
    });
  /** The one line a CLI prints for an error the user can fix (progress bars also go to stderr). */
  const errorLine = (stderr: string) => {
    const lines = stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(lines, stderr).toHaveLength(1);
    expect(stderr.trimEnd().endsWith(lines[0]), stderr).toBe(true);
    return lines[0];
  };
  const expectListed = (output: string, names: string[]) => {
    for (const name of names) expect(output, name).toContain(`  ${name}: `);
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'facesense-robustness-'));
    ({ root, good } = await badDataset());
  });
  afterAll(() => {
    for (const dir of [root, work, join(ROOT, 'training', 'runs', run)]) rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('lists every bad file with its reason and reads every odd encoding as an upright 8-bit RGB image', async () => {
    const { listDataset } = await import('../../training/lib/data/dataset');
    const { decodeImage } = await import('../../training/lib/data/images');
    const ds = listDataset(root);
    expect(ds.missingSplits).toEqual(['Validation']);
    const skipped = Object.fromEntries(ds.skipped.map((s) => [s.name, s.reason]));
    const unlisted = Object.keys(BAD).filter((n) => !/truncated|random/.test(n));
    for (const name of unlisted) expect(skipped[name], name).toMatch(BAD[name]);
    expect(ds.entries.map((e) => e.name).sort()).toEqual(
      [...good, ...NO_FACE, ...Object.keys(BAD)].filter((n) => !unlisted.includes(n)).sort(),
    );

    const upright = await decodeImage(join(root, 'Train/Female/Zoë 日本.jpg'));
    for (const name of ODD) {
      const image = await decodeImage(join(root, 'Train/Female', name));
      expect(image.data.length, name).toBe(image.width * image.height * 3);
      if (name === 'huge.jpg') expect(Math.max(image.width, image.height)).toBe(2048);
      else if (name === 'alpha.png') expect(image.width).toBe(upright.width + 32);
      else {
        expect([image.width, image.height], name).toEqual([upright.width, upright.height]);
        if (name === 'gray.jpg' || name === 'cmyk.jpg') continue; // colour changes; the geometry is what matters
        let diff = 0;
        for (let i = 0; i < image.data.length; i++) diff += Math.abs(image.data[i] - upright.data[i]);
        expect(diff / image.data.length, name).toBeLessThan(4);
      }
    }
  }, 300_000);

  it('prepare: skips and lists each bad file, prints the counts, crops every good image, exits 3', () => {
    const r = tsx('prepare.ts', ['--data', root]);
    expect(r.status, r.stderr + r.stdout).toBe(3);
    expect(r.stdout).toContain(`faces cropped: ${good.length} `);
    expect(r.stdout).toContain(`Train ${GOOD_LINKS.Train + ODD.length} female + ${GOOD_LINKS.Train} male`);
    expect(r.stdout).toContain(`Test 0 female + ${GOOD_LINKS.Test} male`);
    expect(r.stdout).toContain(`no face found: ${NO_FACE.length} (not used)`);
    expect(r.stdout).toContain(`skipped: ${Object.keys(BAD).length} (not used)`);
    expect(r.stdout).toContain('missing split folders: Validation');
    for (const [name, reason] of Object.entries(BAD))
      expect(r.stdout).toMatch(new RegExp(`  ${name}: .*${reason.source}`, 'i'));
    expectListed(r.stdout, NO_FACE);
  }, 300_000);

  it('prepare: crops several folders in one run, as train takes them; a one-value option given twice exits 2', () => {
    const flat = join(work, 'flat');
    for (const cls of ['Male', 'Female']) {
      mkdirSync(join(flat, cls), { recursive: true });
      for (const file of readdirSync(join(CELEBA, 'Validation', cls))
        .sort()
        .slice(0, 3))
        symlinkSync(join(CELEBA, 'Validation', cls, file), join(flat, cls, file));
    }
    const r = tsx('prepare.ts', ['--data', root, '--data', flat]);
    expect(r.status, r.stderr + r.stdout).toBe(3);
    expect(r.stdout).toContain(`faces cropped: ${good.length} `);
    expect(r.stdout).toContain(`6 images in ${flat} (flat layout)`);
    expect(r.stdout).toContain('faces cropped: 6 (100.00 %): All 3 female + 3 male');
    const cacheDir = /from the crop cache (\S+)/.exec(r.stdout)![1];
    expect(readFileSync(join(cacheDir, 'no-face.txt'), 'utf8')).toContain(join(root, NO_FACE[0]));

    const twice = tsx('evaluate.ts', ['--data', root, '--data', flat]);
    expect(twice.status).toBe(2);
    expect(errorLine(twice.stderr)).toBe('error: --data was given twice; it takes one value (see --help)');
  }, 300_000);

  it('train: trains on every good image (holding some out without Validation/), exports, exits 3', () => {
    const out = join(work, 'model');
    const r = tsx('train.ts', [
      '--data',
      root,
      '--epochs',
      '1',
      '--batch',
      '8',
      '--workers',
      '1',
      '--run',
      run,
      '--out',
      out,
    ]);
    expect(r.status, r.stderr + r.stdout).toBe(3);
    expect(r.stdout).toMatch(/0 newly processed/);
    expectListed(r.stdout, [...Object.keys(BAD), ...NO_FACE]);
    const trainFaces = good.filter((n) => n.startsWith('Train/')).length;
    const [, n, heldOut] = /Train (\d+) \(\d+ male\), Validation (\d+), Test (\d+)/.exec(r.stdout) ?? [];
    expect(Number(n) + Number(heldOut)).toBe(trainFaces);
    expect(Number(heldOut)).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/held out to validate on/);
    expect(r.stdout).toMatch(new RegExp(`Test ${GOOD_LINKS.Test} \\|`));
    const metadata = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
    expect(metadata.metrics.validation.images).toBe(Number(heldOut));
  }, 300_000);

  it('evaluate: goes through every file of a split, lists the bad ones, exits 3', () => {
    const r = tsx('evaluate.ts', ['--data', root, '--split', 'Train', '--model', join(work, 'model'), '--json']);
    expect(r.status, r.stderr).toBe(3);
    const report = JSON.parse(r.stdout);
    const trainBad = Object.keys(BAD).filter((n) => n.startsWith('Train/'));
    expect(report.facesFound).toBe(good.filter((n) => n.startsWith('Train/')).length);
    expect(report.noFaceFiles).toEqual(NO_FACE);
    expect(report.skippedFiles.map((s: { name: string }) => s.name).sort()).toEqual(trainBad.sort());
    expect(report.images).toBe(report.facesFound + NO_FACE.length + trainBad.length);
    expect(r.stderr).toContain(`skipped (${trainBad.length}):`);
  }, 300_000);

  it('predict: says what is wrong with each bad file, finds the EXIF-rotated face upright, exits 3', async () => {
    const files = ['Zoë 日本.jpg', 'exif-rotated.jpg', 'huge.jpg', 'tiny.jpg', 'broken.jpg'].map((f) =>
      join(root, 'Train/Female', f),
    );
    files.push(
      ...['truncated.jpg', 'random.jpg', 'empty.jpg', 'notes.txt', 'loop.jpg'].map((f) => join(root, 'Train/Male', f)),
    );
    const r = tsx('predict.ts', ['--json', '--model', join(work, 'model'), ...files]);
    expect(r.status, r.stderr).toBe(3);
    const results: { file: string; faces: { box: number[] }[]; error?: string }[] = JSON.parse(r.stdout);
    expect(results.map((x) => x.file)).toEqual(files);
    const [upright, rotated, huge, tiny, ...unreadable] = results;
    expect(upright.faces).toHaveLength(1);
    expect(rotated.faces).toHaveLength(1);
    // Found where the upright photo has it: a face found sideways would have its box rotated too.
    rotated.faces[0].box.forEach((v, i) => expect(Math.abs(v - upright.faces[0].box[i])).toBeLessThan(6));
    expect(huge.faces).toHaveLength(1);
    // Its box is in the 6000×6000 file's pixels, though it was decoded at 2048.
    const { width = 0, height = 0 } = await sharp(files[0]).metadata();
    const k = 6000 / Math.max(width, height);
    const pad = [(6000 - width * k) / 2, (6000 - height * k) / 2];
    huge.faces[0].box.forEach((v, i) => {
      const inFace = i < 2 ? (v - pad[i]) / k : v / k;
      expect(Math.abs(inFace - upright.faces[0].box[i])).toBeLessThan(6);
    });
    expect(tiny).toEqual({ file: tiny.file, faces: [] });
    for (const u of unreadable) expect(u.error, u.file).toMatch(/./);
    expect(r.stderr).toContain(`${files.length} images: 3 with a face, 1 without, ${unreadable.length} unreadable`);
  }, 300_000);

  it('gives one error line naming the path for a wrong --data or a folder without a usable image', async () => {
    const missing = join(work, 'no-such-folder');
    for (const [script, args] of [
      ['prepare.ts', []],
      ['train.ts', ['--run', `${run}-none`]],
      ['evaluate.ts', ['--model', join(work, 'model')]],
    ] as const) {
      const r = tsx(script, ['--data', missing, ...args]);
      expect(r.status, script).toBe(1);
      expect(errorLine(r.stderr)).toMatch(new RegExp(`^error: No dataset at ${missing}\\. .*--data <dir>`));
    }

    const junk = join(work, 'junk');
    mkdirSync(join(junk, 'Train', 'Male'), { recursive: true });
    writeFileSync(join(junk, 'Train', 'Male', 'notes.txt'), 'not a photo\n');
    writeFileSync(join(junk, 'Train', 'Male', 'empty.jpg'), '');
    const none = tsx('train.ts', ['--data', junk, '--run', `${run}-none`]);
    expect(none.status).toBe(1);
    expect(errorLine(none.stderr)).toMatch(new RegExp(`^error: No images in ${junk} \\(2 files skipped.*expected`));

    // Files that look like images but none holds a face: listed, then the error.
    writeFileSync(join(junk, 'Train', 'Male', 'random.jpg'), Buffer.alloc(1000, 7));
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#345' } })
      .jpeg()
      .toFile(join(junk, 'Train', 'Male', 'plain.jpg'));
    const faceless = tsx('prepare.ts', ['--data', junk]);
    expect(faceless.status).toBe(1);
    expectListed(faceless.stdout, ['Train/Male/random.jpg', 'Train/Male/plain.jpg']);
    expect(errorLine(faceless.stderr)).toBe(`error: no face found in any image of ${junk}: expected photos of faces`);
  }, 300_000);

  it('documents the exit codes in every --help', () => {
    for (const script of ['prepare.ts', 'train.ts', 'evaluate.ts', 'predict.ts', 'export.ts']) {
      const r = tsx(script, ['--help']);
      expect(r.status, script).toBe(0);
      const codes = r.stdout.slice(r.stdout.indexOf('Exit codes: 0 '));
      expect(codes, script).toMatch(/\b1 error[^]*\b2 bad arguments/);
      if (script !== 'export.ts') expect(codes, script).toMatch(/\b3 /);
    }
  }, 300_000);
});
