import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupDroWeights } from '../../training/lib/data/mix';
import { isHeldOut } from '../../training/lib/data/splits';
import type { Stage } from '../../training/lib/fit/recipe';
import { DATA_DIR, hasData, smallDataset } from '../support/data';

const ROOT = join(__dirname, '..', '..');
const DIVERSE = join(DATA_DIR, 'diverse');

describe.skipIf(!hasData)('train on several folders at once', () => {
  const run = `test-sources-${process.pid}`;
  let kaggle: string;
  let work: string;
  let plainFiles: string[];

  beforeAll(() => {
    kaggle = smallDataset({ Train: 40, Validation: 10, Test: 10 });
    work = mkdtempSync(join(tmpdir(), 'facesense-sources-'));
    plainFiles = [];
    // A plain {Male,Female} folder of FairFace faces: it has no Validation split of its own.
    for (const cls of ['Male', 'Female']) {
      mkdirSync(join(work, 'plain', cls), { recursive: true });
      for (const file of readdirSync(join(DIVERSE, cls))
        .filter((f) => f.startsWith('fairface-train_'))
        .sort()
        .slice(0, 100)) {
        symlinkSync(join(DIVERSE, cls, file), join(work, 'plain', cls, file));
        plainFiles.push(`${cls}/${file}`);
      }
    }
  });
  /** `npm run train` with these arguments, on the test's own crop cache. */
  const train = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'training', 'cli', 'train.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, FACESENSE_CROP_CACHE: join(work, 'cache') },
    });
  /** The plain folder's faces, with their rows of diverse's labels.csv (made once). */
  const agedFolder = () => {
    const aged = join(work, 'aged');
    if (existsSync(aged)) return aged;
    for (const cls of ['Male', 'Female']) mkdirSync(join(aged, cls), { recursive: true });
    for (const file of plainFiles) symlinkSync(join(DIVERSE, file), join(aged, file));
    const [header, ...rows] = readFileSync(join(DIVERSE, 'labels.csv'), 'utf8').trim().split('\n');
    const wanted = new Set(plainFiles);
    writeFileSync(
      join(aged, 'labels.csv'),
      [header, ...rows.filter((row) => wanted.has(row.split(',')[0]))].join('\n'),
    );
    return aged;
  };
  afterAll(() => {
    rmSync(kaggle, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    rmSync(join(ROOT, 'training', 'runs', run), { recursive: true, force: true });
  });

  it('holds out a tenth of the plain folder by name, mixes every batch as asked, and records each source', () => {
    const name = basename(kaggle);
    const out = join(work, 'model');
    const r = train([
      ...['--data', kaggle, '--data', join(work, 'plain'), '--mix', `${name}=1,plain=3`, '--female-share', '0.25'],
      ...['--epochs', '1', '--steps-per-epoch', '2', '--batch', '16', '--run', run, '--out', out],
    ]);
    expect([0, 3], r.stderr + r.stdout).toContain(r.status);
    // 16 images a batch: a quarter from the Kaggle folder, three quarters from the plain one; a quarter of each female.
    expect(r.stdout).toContain(`batch 16: ${name} 1 female + 3 male, plain 3 female + 9 male`);
    const heldOut = Number(/plain: no Validation split, (\d+) of its crops are held out/.exec(r.stdout)?.[1]);
    const namedOut = plainFiles.filter(isHeldOut).length;
    // Only the held-out files in which a face was found are validated on.
    expect(heldOut).toBeGreaterThan(0.8 * namedOut);
    expect(heldOut).toBeLessThanOrEqual(namedOut);

    const metadata = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
    const [celeba, plain] = metadata.data.sources;
    expect(celeba).toMatchObject({ name, layout: 'kaggle', validation: 'split' });
    expect(celeba.collections).toEqual([expect.objectContaining({ collection: 'CelebA', images: 120 })]);
    expect(plain).toMatchObject({ name: 'plain', layout: 'flat', validation: 'held-out tenth' });
    expect(plain.counts).toEqual({ All: { Female: 100, Male: 100 } });
    expect(plain.collections).toEqual([
      expect.objectContaining({ collection: 'FairFace', images: 200, licence: 'CC BY 4.0' }),
    ]);
    expect(metadata.data.batch).toEqual({ mix: { [name]: 1, plain: 3 }, femaleShare: 0.25 });
    expect(metadata.metrics.bySource.plain.validation.images).toBe(heldOut);
    expect(metadata.metrics.bySource[name].test.images).toBeGreaterThan(15);
    expect(metadata.metrics.bySource.plain.test).toBeUndefined();
    // Calibration and the band are fitted on both folders' Validation together.
    expect(metadata.metrics.validation.images).toBe(heldOut + metadata.metrics.bySource[name].validation.images);
  }, 600_000);

  it("runs the shipped net and recipe when no option sets them: each stage's rate, augmentation and mix, recorded", () => {
    const name = basename(kaggle);
    const out = join(work, 'recipe-model');
    // The recipe gives a folder named diverse a larger share in its later stages.
    symlinkSync(join(work, 'plain'), join(work, 'diverse'));
    const r = train([
      ...['--data', kaggle, '--data', join(work, 'diverse'), '--epochs', '4', '--steps-per-epoch', '1'],
      ...['--batch', '16', '--run', `${run}-recipe`, '--out', out],
    ]);
    rmSync(join(ROOT, 'training', 'runs', `${run}-recipe`), { recursive: true, force: true });
    expect([0, 3], r.stderr + r.stdout).toContain(r.status);
    expect(r.stdout).toContain('4 epochs in 4 stages');
    // Shares 1:1, then 1:1.5 (3.2 and 4.8 faces of each class, rounded by largest remainder), then 1:3.
    const stages = [
      'stage 1/4: 1 epoch, lr 0.001 cosine, robust augmentation, batch 16: ' +
        `${name} 4 female + 4 male, diverse 4 female + 4 male`,
      'stage 2/4: 1 epoch, lr 0.0005 cosine, robust augmentation, batch 16: ' +
        `${name} 3 female + 3 male, diverse 5 female + 5 male`,
      `stage 3/4: 1 epoch, lr 0.0005 cosine, far augmentation, batch 16: ${name} 3 female + 3 male, diverse 5 female + 5 male`,
      `stage 4/4: 1 epoch, lr 0.0005 cosine, far augmentation, batch 16: ${name} 2 female + 2 male, diverse 6 female + 6 male`,
    ];
    for (const line of stages) expect(r.stdout).toContain(line);
    expect(r.stdout.indexOf(stages[3])).toBeGreaterThan(r.stdout.indexOf('epoch 3/4: loss'));

    const { arch, training, data } = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
    expect(arch).toBe('wide');
    expect(training.stages.map((s: Stage) => [s.epochs, s.lr, s.augment, s.mix])).toEqual([
      [1, 0.001, 'robust', { [name]: 1, diverse: 1 }],
      [1, 0.0005, 'robust', { [name]: 1, diverse: 1.5 }],
      [1, 0.0005, 'far', { [name]: 1, diverse: 1.5 }],
      [1, 0.0005, 'far', { [name]: 1, diverse: 3 }],
    ]);
    const best = training.stages[training.bestEpoch - 1];
    expect(training).toMatchObject({ epochs: 4, lr: best.lr, augment: best.augment });
    expect(data.batch).toEqual({ mix: best.mix, femaleShare: 0.5 });
  }, 600_000);

  it('fine-tunes an exported model from its folder, with batches balanced by labels.csv age bands, group DRO and SAM', () => {
    const name = basename(kaggle);
    const aged = agedFolder();
    const r = train([
      ...['--data', kaggle, '--data', aged, '--from', join(ROOT, 'public', 'models', 'gender'), '--balance', 'age'],
      ...['--group-dro', '1', '--sam', '0.05'],
      ...['--epochs', '1', '--steps-per-epoch', '1', '--batch', '32', '--lr', '0.00001', '--run', `${run}-from`],
      ...['--out', join(work, 'from-model')],
    ]);
    rmSync(join(ROOT, 'training', 'runs', `${run}-from`), { recursive: true, force: true });
    expect([0, 3], r.stderr + r.stdout).toContain(r.status);
    expect(r.stdout).toMatch(
      /starting from the exported model in .*public\/models\/gender, BatchNorm unfolded on \d+ Train/,
    );
    expect(r.stdout).toContain(`${name}: no "age" column in a labels.csv: its batches are not balanced by it`);
    // 8 women and 8 men of each folder; the aged folder's split by age band, the bands adding up to the class.
    const line = new RegExp(`${name} 8 female \\+ 8 male, aged 8 female \\(([^)]*)\\) \\+ 8 male \\(([^)]*)\\)`).exec(
      r.stdout,
    );
    expect(line, r.stdout).not.toBeNull();
    for (const bands of [line![1], line![2]]) {
      expect(bands).toMatch(/^13–19 \d, 20–39 \d, 40–59 \d, 60\+ \d$/);
      expect(bands.split(', ').reduce((sum, band) => sum + Number(band.split(' ')[1]), 0)).toBe(8);
    }
    // Group DRO measured each band's loss before the epoch, and drew the bands anew, each class still 8 a batch.
    const dro = new RegExp(
      `group DRO before epoch 1, each group's loss: ${name} female [0-9.]+, ${name} male [0-9.]+, aged female 13–19 [0-9.]+.*\n` +
        `  batch \\(mean of the epoch's\\): ${name} 8 female \\+ 8 male, aged 8 female \\(([^)]*)\\) \\+ 8 male \\(([^)]*)\\)`,
    ).exec(r.stdout);
    expect(dro, r.stdout).not.toBeNull();
    for (const bands of [dro![1], dro![2]])
      expect(bands.split(', ').reduce((sum, band) => sum + Number(band.split(' ')[1]), 0)).toBeCloseTo(8, 1);
    const metadata = JSON.parse(readFileSync(join(work, 'from-model', 'metadata.json'), 'utf8'));
    expect(metadata.data.batch).toMatchObject({ balance: 'age', groupDro: 1 });
    // Without --arch, the network is the exported model's.
    const shipped = JSON.parse(readFileSync(join(ROOT, 'public', 'models', 'gender', 'metadata.json'), 'utf8'));
    expect(metadata.arch).toBe(shipped.arch);
    expect(metadata.training).toMatchObject({ sam: 0.05, fromVersion: shipped.version });
    // One step at a tiny rate: the celebrity faces are as well classified as by the shipped model, not by chance.
    const celeba = Number(new RegExp(`\\(${name} ([0-9.]+),`).exec(r.stdout)?.[1]);
    expect(celeba, r.stdout).toBeGreaterThan(0.85);
  }, 600_000);

  it('fine-tunes for a uint4 export: scored at rounded kernels, exported packed at about half the size', () => {
    const name = basename(kaggle);
    const out = join(work, 'uint4-model');
    const r = train([
      ...['--data', kaggle, '--from', join(ROOT, 'public', 'models', 'gender'), '--quantize', 'uint4'],
      ...['--epochs', '1', '--steps-per-epoch', '1', '--batch', '32', '--lr', '0.00001', '--run', `${run}-uint4`],
      ...['--out', out],
    ]);
    rmSync(join(ROOT, 'training', 'runs', `${run}-uint4`), { recursive: true, force: true });
    expect([0, 3], r.stderr + r.stdout).toContain(r.status);
    const metadata = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
    expect(metadata.quantization).toBe('uint4');
    const specs = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).weightsManifest[0].weights;
    expect(specs.filter((s: { packed?: unknown }) => s.packed).length).toBeGreaterThan(10);
    const bytes = (dir: string) => statSync(join(dir, 'weights.bin')).size;
    expect(bytes(out) / bytes(join(ROOT, 'public', 'models', 'gender'))).toBeLessThan(0.6);
    // Rounded to 16 levels a channel, the shipped weights still know the celebrity faces, as scored and as exported.
    const celeba = Number(new RegExp(`\\(${name} ([0-9.]+)\\)`).exec(r.stdout)?.[1]);
    expect(celeba, r.stdout).toBeGreaterThan(0.85);
    expect(metadata.metrics.validation.balancedAccuracy).toBeGreaterThan(0.85);
    // evaluate loads it as the app does (loadGenderClassifier), packed kernels unpacked.
    const evaluated = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'training', 'cli', 'evaluate.ts'), '--json', '--model', out, '--data', kaggle],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 300_000,
        env: { ...process.env, FACESENSE_CROP_CACHE: join(work, 'cache') },
      },
    );
    expect([0, 3], evaluated.stderr).toContain(evaluated.status);
    expect(JSON.parse(evaluated.stdout).accuracy).toBeGreaterThan(0.85);
  }, 600_000);

  it('resumes group DRO from the checkpoint: the next epoch reweighs the last weights, and the walk goes on', () => {
    const dro = `${run}-dro`;
    const checkpoint = join(ROOT, 'training', 'runs', dro, 'checkpoint', 'state.json');
    const args = ['--epochs', '1', '--steps-per-epoch', '1', '--batch', '32', '--lr', '0.00001', '--run', dro];
    const first = train([
      ...['--data', kaggle, '--data', agedFolder(), '--from', join(ROOT, 'public', 'models', 'gender')],
      ...['--balance', 'age', '--group-dro', '2', '--out', join(work, 'dro-model'), ...args],
    ]);
    expect([0, 3], first.stderr + first.stdout).toContain(first.status);
    const before = JSON.parse(readFileSync(checkpoint, 'utf8'));
    const second = train(['--resume', '--run', dro, '--epochs', '2']);
    const after = JSON.parse(readFileSync(checkpoint, 'utf8'));
    rmSync(join(ROOT, 'training', 'runs', dro), { recursive: true, force: true });
    expect([0, 3], second.stderr + second.stdout).toContain(second.status);
    expect(second.stdout).toContain('group DRO before epoch 2');
    expect(second.stdout).not.toContain('group DRO before epoch 1');
    expect(before.groupDro.epoch).toBe(0);
    expect(after.groupDro.epoch).toBe(1);
    // Epoch 2's weights are epoch 1's, raised by the losses measured before epoch 2: not the run's first weights.
    const strata = (after.groupDro.groups as string[]).map((group) => {
      const [source, label] = group.split(' ');
      return { source, label: label === 'male' ? 1 : 0, indices: new Uint32Array(0) } as const;
    });
    expect(after.groupDro.groups).toEqual(before.groupDro.groups);
    expect(after.groupDro.groups).toContain('aged female 60+');
    const expected = groupDroWeights(strata, before.groupDro.weights, after.groupDro.losses, 2);
    after.groupDro.weights.forEach((w: number, k: number) => expect(w).toBeCloseTo(expected[k], 12));
    expect(after.groupDro.weights).not.toEqual(before.groupDro.weights);
    // One batch of 32 was taken in epoch 1: 8 of each folder's women and of its men, split among its groups.
    const taken: number[] = after.groupDro.taken;
    expect(taken.reduce((a, b) => a + b, 0)).toBe(32);
  }, 600_000);

  it('refuses group DRO without the column whose groups it weighs', () => {
    const r = train(['--data', kaggle, '--group-dro', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--group-dro weighs the groups of a column: pass --balance <column> too');
  });

  it('refuses a crossed column as an auxiliary head', () => {
    const r = train(['--data', kaggle, '--aux', 'race+age']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--aux learns single columns, e.g. race,age, not crossed ones; got "race+age"');
  });

  it('refuses a SAM radius outside 0 to 1', () => {
    const r = train(['--data', kaggle, '--sam', '1.5']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--sam must be between 0 and 1, got "1.5"');
  });

  it('refuses SAM in a uint4 run, whose gradients are taken on the grid', () => {
    const r = train(['--data', kaggle, '--sam', '0.05', '--quantize', 'uint4']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--sam moves the weights off the grid that --quantize uint4 trains on');
  });
});
