import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CROP } from '../../src/core/crop';
import { CropCache } from '../../training/lib/data/crop-cache';
import { cropPool } from '../../training/lib/data/crop-workers';
import { listDataset } from '../../training/lib/data/dataset';
import { prepareCrops } from '../../training/lib/data/prepare-crops';
import { initTrainingBackend } from '../../training/lib/fit/wasm/setup';
import { hasData, smallDataset } from '../support/data';

describe.skipIf(!hasData)('the crop step on worker threads', () => {
  let data: string;
  let work: string;
  let first: string;

  beforeAll(async () => {
    await initTrainingBackend();
    data = smallDataset({ Train: 12, Validation: 0, Test: 0 });
    const female = join(data, 'Train', 'Female');
    // The same photo under a second name, listed just before it (so that its crop is still in a worker when the
    // photo comes), and a file that is no image.
    first = readdirSync(female).sort()[0];
    copyFileSync(join(female, first), join(female, first.replace('.jpg', '-copy.jpg')));
    writeFileSync(join(female, 'zz-broken.jpg'), 'not a jpeg');
    work = mkdtempSync(join(tmpdir(), 'facesense-crop-workers-'));
  });
  afterAll(() => {
    rmSync(data, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  /** Every file's outcome: the digest of its crop (its slot may differ), or why it has none. */
  async function cropAll(threads: number) {
    const cache = new CropCache(join(work, `cache-${threads}`), DEFAULT_CROP, 'test');
    const cropper = cropPool(threads, DEFAULT_CROP);
    try {
      const { entries } = listDataset(data);
      const { results } = await prepareCrops([entries], cache, cropper);
      const [result] = results;
      const outcome = new Map<string, string>();
      for (const { entry, slot } of result.usable) {
        outcome.set(
          entry.name,
          createHash('sha256')
            .update(cache.readSlots([slot]))
            .digest('hex'),
        );
      }
      for (const { entry, reason } of [...result.noFace, ...result.unreadable]) outcome.set(entry.name, reason);
      return { outcome, processed: result.processed, files: entries.length };
    } finally {
      await cropper.close();
      cache.close();
    }
  }

  it('gives the same crops and failures with 2 threads as with the main thread alone', async () => {
    const one = await cropAll(1);
    const two = await cropAll(2);
    expect(one.files).toBe(26);
    // The copy's content is cropped once.
    expect(two.processed).toBe(one.processed);
    expect(one.processed).toBe(25);
    expect([...two.outcome.entries()].sort()).toEqual([...one.outcome.entries()].sort());
    expect(one.outcome.get('Train/Female/zz-broken.jpg')).toMatch(/unsupported image format|Input buffer/i);
    expect(one.outcome.get(`Train/Female/${first.replace('.jpg', '-copy.jpg')}`)).toBe(
      one.outcome.get(`Train/Female/${first}`),
    );
    expect([...one.outcome.values()].filter((v) => /^[0-9a-f]{64}$/.test(v)).length).toBeGreaterThan(20);
  }, 300_000);
});
