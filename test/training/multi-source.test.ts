import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHeldOut } from '../../training/lib/data/splits';
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
  afterAll(() => {
    rmSync(kaggle, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    rmSync(join(ROOT, 'training', 'runs', run), { recursive: true, force: true });
  });

  it('holds out a tenth of the plain folder by name, mixes every batch as asked, and records each source', () => {
    const name = basename(kaggle);
    const out = join(work, 'model');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'training', 'cli', 'train.ts'),
        ...['--data', kaggle, '--data', join(work, 'plain'), '--mix', `${name}=1,plain=3`, '--female-share', '0.25'],
        ...['--epochs', '1', '--steps-per-epoch', '2', '--batch', '16', '--run', run, '--out', out],
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 600_000,
        env: { ...process.env, FACESENSE_CROP_CACHE: join(work, 'cache') },
      },
    );
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
});
