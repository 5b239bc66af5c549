import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CELEBA, DATA_DIR, hasData } from '../support/data';

const ROOT = join(__dirname, '..', '..');
const predict = (args: string[], input?: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'training', 'cli', 'predict.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    input,
    timeout: 600_000,
    // 3,000 results as indented JSON are well over spawnSync's default 1 MiB.
    maxBuffer: 64 * 1024 * 1024,
  });

interface Result {
  file: string;
  faces: { label: string; confidence: number }[];
  error?: string;
}

/** The first `n` CelebA files of a split and class, as absolute paths. */
const celeba = (split: string, cls: string, n: number) =>
  readdirSync(join(CELEBA, split, cls))
    .sort()
    .slice(0, n)
    .map((f) => join(CELEBA, split, cls, f));

describe('predict: usage', () => {
  it('documents folders, lists and standard input, and the exit codes', () => {
    const r = predict(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('<folder>');
    expect(r.stdout).toContain('--list -');
    expect(r.stdout).toMatch(/Exit codes: 0 .*; 3 .*could not be read[^]*1 error[^]*2 bad arguments/);
  });

  it('exits 2 when no image is given, on the command line or in an empty list, and 1 for an unreadable list', () => {
    const none = predict([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^error: no image given/m);
    const empty = predict(['--list', '-'], '\n\n');
    expect(empty.status).toBe(2);
    const missing = predict(['--list', '/no/such/list.txt']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^error: cannot read the list \/no\/such\/list\.txt: no such file or folder$/m);
  });
});

describe.skipIf(!hasData)(`predict on many images (${DATA_DIR})`, () => {
  let work: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'facesense-predict-'));
  });
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  // Full detection on all 3,000: about 70 s on a busy 2-core machine.
  it('labels every image of a folder of 3,000, recursively, and skips other files quietly', () => {
    const folder = join(work, 'photos');
    const expected: string[] = [];
    for (const cls of ['Female', 'Male']) {
      mkdirSync(join(folder, cls), { recursive: true });
      for (const file of celeba('Train', cls, 1500)) {
        const link = join(folder, cls, basename(file));
        symlinkSync(file, link);
        expected.push(link);
      }
    }
    writeFileSync(join(folder, 'Female', 'notes.txt'), 'not a photo\n');
    writeFileSync(join(folder, '.DS_Store'), '');

    const r = predict(['--json', folder]);
    // 3: a few CelebA photos have no face BlazeFace finds; each is listed with an empty `faces`.
    expect([0, 3], r.stderr).toContain(r.status);
    const results: Result[] = JSON.parse(r.stdout);
    expect(results.map((x) => x.file)).toEqual(expected);
    expect(results.filter((x) => x.error)).toEqual([]);
    const withFace = results.filter((x) => x.faces.length > 0).length;
    expect(withFace).toBeGreaterThan(0.95 * expected.length);
    for (const face of results.flatMap((x) => x.faces)) expect(['female', 'male', 'uncertain']).toContain(face.label);
    expect(r.status).toBe(withFace === expected.length ? 0 : 3);
    expect(r.stderr).toContain(`3000 images: ${withFace} with a face, ${3000 - withFace} without, 0 unreadable`);
    expect(r.stderr).toContain('2 other files in the folders skipped');
    // Progress on stderr, never on stdout (which is the JSON just parsed).
    expect(r.stderr).toMatch(/predict \[.*\] \d+% \d+\/3000 img/);
  }, 900_000);

  // Full detection on 300 images; the list handling itself does not depend on its length.
  it('labels every path of a list read from standard input, and says why a line could not be read', () => {
    const images = [...celeba('Test', 'Female', 150), ...celeba('Test', 'Male', 150)];
    const missing = join(work, 'no-such-photo.jpg');
    const notImage = join(work, 'notes.txt');
    writeFileSync(notImage, 'not a photo\n');
    const lines = [
      relative(ROOT, images[0]),
      ...images.slice(1, 100),
      '',
      `${images[100]}\r`,
      missing,
      ...images.slice(101),
      notImage,
    ];
    const r = predict(['--list', '-'], lines.join('\n') + '\n');
    expect(r.status, r.stderr).toBe(3);
    const perFile = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('  '));
    const files = [relative(ROOT, images[0]), ...images.slice(1, 101), missing, ...images.slice(101), notImage];
    expect(perFile).toHaveLength(files.length);
    perFile.forEach((line, i) => expect(line.startsWith(`${files[i]}: `), line).toBe(true));
    expect(perFile).toContain(`${missing}: cannot read: no such file or folder`);
    expect(perFile).toContain(`${notImage}: cannot read: Input file contains unsupported image format`);
    // Percentages as the app shows them: never 100 %.
    const labels = r.stdout.match(/\] (female|male) \d+%/g) ?? [];
    expect(labels.length).toBeGreaterThan(250);
    expect(r.stdout).not.toMatch(/100%/);
    expect(r.stderr).toMatch(/^302 images: \d+ with a face, \d+ without, 2 unreadable$/m);
  }, 600_000);

  it("labels a photo as the app does: each face's score averaged with its mirror image's", async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const { initTrainingBackend } = await import('../../training/lib/fit/wasm/setup');
    const { DEFAULT_MODEL_DIR, loadClassifierDir } = await import('../../training/cli/common');
    const { blazeFaceModels } = await import('../../training/lib/node-io');
    const { decodeImage, imageTensor } = await import('../../training/lib/data/images');
    const { loadBlazeFace } = await import('../../src/vision/detector');
    const { cropFaces } = await import('../../src/vision/crop');
    const { withFlipAveraging } = await import('../../src/vision/classifier');
    const files = [...celeba('Test', 'Female', 3), ...celeba('Test', 'Male', 3)];
    const r = predict(['--json', ...files]);
    expect(r.status, r.stderr).toBe(0);
    const printed = (JSON.parse(r.stdout) as { faces: { probabilityMale: number }[] }[]).map(
      (result) => result.faces[0].probabilityMale,
    );
    await initTrainingBackend();
    const detector = await loadBlazeFace(blazeFaceModels());
    const single = await loadClassifierDir(DEFAULT_MODEL_DIR);
    const mirrored = withFlipAveraging(single);
    const scores = { single: [] as number[], mirrored: [] as number[] };
    for (const file of files) {
      const image = imageTensor(await decodeImage(file));
      const [face] = await detector.detect(image, { still: true });
      const crops = cropFaces(image, [face.box], single.metadata.crop);
      scores.single.push((await single.classify(crops))[0]);
      scores.mirrored.push((await mirrored.classify(crops))[0]);
      tf.dispose([image, crops]);
    }
    detector.dispose();
    mirrored.dispose();
    printed.forEach((p, i) => expect(p).toBeCloseTo(scores.mirrored[i], 4));
    expect(printed.some((p, i) => Math.abs(p - scores.single[i]) > 1e-3)).toBe(true);
  });

  it('takes paths, folders and --list files together, in the order given', () => {
    const [a, b, c, d] = celeba('Validation', 'Male', 4);
    const folder = join(work, 'two');
    mkdirSync(folder);
    symlinkSync(c, join(folder, 'c.jpg'));
    symlinkSync(d, join(folder, 'd.jpg'));
    const list = join(work, 'list.txt');
    writeFileSync(list, `${folder}\n`);
    const empty = join(work, 'nothing');
    mkdirSync(empty);
    writeFileSync(join(empty, 'readme.md'), '# no photos\n');
    const r = predict(['--json', a, '--list', list, empty, b]);
    expect(r.status, r.stderr).toBe(3);
    const results: Result[] = JSON.parse(r.stdout);
    expect(results.map((x) => x.file)).toEqual([a, join(folder, 'c.jpg'), join(folder, 'd.jpg'), empty, b]);
    expect(results[3]).toEqual({ file: empty, faces: [], error: 'no image in this folder (1 other file)' });
  }, 300_000);
});
