import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CROP } from '../../src/core/crop';
import type { FaceDetector } from '../../src/vision/detector';
import { CropCache, legacyKey } from '../../training/lib/data/crop-cache';
import { listDataset } from '../../training/lib/data/dataset';
import { mainThreadCropper, prepareCrops, type Cropper } from '../../training/lib/data/prepare-crops';
import { isHeldOut, sourceData } from '../../training/lib/data/splits';

/** Finds a face in the middle of every image, and none in an image whose first pixel is black. */
const detector: FaceDetector = {
  async detect(image) {
    const [height, width] = image.shape;
    const corner = tf.slice(image, [0, 0, 0], [1, 1, 1]);
    const [red] = await corner.data();
    corner.dispose();
    if (red < 8) return [];
    return [{ box: { x: width / 4, y: height / 4, width: width / 2, height: height / 2 }, score: 0.9, landmarks: [] }];
  },
  async warmUp() {},
  dispose() {},
};

/** Crops are compared by digest: comparing 12,288-byte arrays element by element is slow. */
const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A small JPEG of one colour: each colour is its own content. */
const jpeg = (shade: number) =>
  sharp({ create: { width: 40, height: 40, channels: 3, background: { r: shade, g: 255 - shade, b: 90 } } })
    .jpeg()
    .toBuffer();

describe('crop cache keyed by content', () => {
  let work: string;
  let cacheBase: string;
  const record = DEFAULT_CROP.size * DEFAULT_CROP.size * 3;
  const cacheDir = () => join(cacheBase, readdirSync(cacheBase)[0]);
  const binSlots = () => statSync(join(cacheDir(), 'crops.bin')).size / record;
  const indexLines = () => readFileSync(join(cacheDir(), 'index.jsonl'), 'utf8').split('\n').slice(0, -1).length;

  /** A {Female,Male} folder: `shades` per class, file i of each class given shade shades[class][i] (0: no face). */
  async function makeFolder(name: string, shades: { Female: number[]; Male: number[] }): Promise<string> {
    const root = join(work, name);
    for (const [cls, list] of Object.entries(shades)) {
      mkdirSync(join(root, cls), { recursive: true });
      for (const [i, shade] of list.entries()) writeFileSync(join(root, cls, `${cls[0]}${i}.jpg`), await jpeg(shade));
    }
    return root;
  }

  const open = () => new CropCache(cacheBase, DEFAULT_CROP, 'test-detector');

  /** One run over the folders (one cache opening, as one `prepare-data` or `train`): its outcome, crops by file. */
  async function prepare(
    dirs: string[],
    only?: (name: string) => boolean,
    cropper: Cropper = mainThreadCropper(detector, DEFAULT_CROP),
  ) {
    const cache = open();
    try {
      const groups = dirs.map((dir) => listDataset(dir).entries.filter((e) => !only || only(e.name)));
      const outcome = await prepareCrops(groups, cache, cropper);
      const crops = outcome.results.map(
        (r) => new Map(r.usable.map((u) => [u.entry.name, digest(cache.readSlots([u.slot]))])),
      );
      return { ...outcome, processed: outcome.results.map((r) => r.processed), crops };
    } finally {
      cache.close();
    }
  }

  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'facesense-content-'));
    cacheBase = join(work, 'cache');
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('does not read a file again while its size and mtime are unchanged, and crops a changed one again', async () => {
    const a = await makeFolder('a', { Female: [10, 20, 30], Male: [40, 50, 60] });
    const first = await prepare([a]);
    expect(first).toMatchObject({ read: 6, reused: 0, processed: [6] });
    expect(await prepare([a])).toMatchObject({ read: 0, processed: [0] });

    writeFileSync(join(a, 'Male', 'M1.jpg'), await jpeg(200));
    utimesSync(join(a, 'Male', 'M1.jpg'), new Date(), new Date(Date.now() + 60_000));
    const changed = await prepare([a]);
    expect(changed).toMatchObject({ read: 1, reused: 0, processed: [1] });
    expect(changed.crops[0].get('Male/M1.jpg')).not.toEqual(first.crops[0].get('Male/M1.jpg'));
    expect(changed.crops[0].get('Male/M0.jpg')).toEqual(first.crops[0].get('Male/M0.jpg'));
    // The old content of Male/M1.jpg is no file's any more.
    expect(changed.pruned).toEqual({ records: 1, bytes: record });
  });

  it('re-uses every crop for a copy of the data with new mtimes, and for a file under another name', async () => {
    const a = await makeFolder('a', { Female: [10, 20, 30], Male: [40, 50, 60] });
    const original = await prepare([a]);
    const b = join(work, 'copy', 'b');
    cpSync(a, b, { recursive: true });
    const later = new Date(Date.now() + 3_600_000);
    for (const cls of ['Female', 'Male'])
      for (const file of readdirSync(join(b, cls))) utimesSync(join(b, cls, file), later, later);
    renameSync(join(b, 'Female', 'F0.jpg'), join(b, 'Female', 'renamed.jpg'));

    const copy = await prepare([b]);
    expect(copy).toMatchObject({ read: 6, reused: 6, processed: [0], pruned: { records: 0, bytes: 0 } });
    expect(copy.crops[0].get('Female/renamed.jpg')).toEqual(original.crops[0].get('Female/F0.jpg'));
    expect(copy.crops[0].get('Male/M2.jpg')).toEqual(original.crops[0].get('Male/M2.jpg'));
    expect(binSlots()).toBe(6);
    // The copy's files are known now too: neither folder is read again.
    expect(await prepare([a, b])).toMatchObject({ read: 0, processed: [0, 0] });
  });

  it('crops content that several files share once', async () => {
    const a = await makeFolder('a', { Female: [10, 10, 10], Male: [40, 40] });
    const run = await prepare([a]);
    expect(run).toMatchObject({ read: 5, reused: 3, processed: [2] });
    expect(run.results[0].usable.map((u) => u.slot).sort()).toEqual([0, 0, 0, 1, 1]);
    expect(binSlots()).toBe(2);
  });

  it('goes on cropping other content while copies of the content being cropped wait for its record', async () => {
    const a = await makeFolder('a', { Female: [10, 10, 10, 20], Male: [30] });
    // Two crop threads, the first of whose crops ends only once another has begun: a loop that waited on the copies
    // of the first content would never begin the next one.
    const inner = mainThreadCropper(detector, DEFAULT_CROP);
    let begun = 0;
    let releaseFirst = () => {};
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const cropper: Cropper = {
      parallel: 2,
      async crop(image) {
        if (++begun === 1) await firstHeld;
        else releaseFirst();
        return inner.crop(image);
      },
    };
    const stalled = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('stalled')), 5_000));
    const run = await Promise.race([prepare([a], undefined, cropper), stalled]);
    expect(run).toMatchObject({ read: 5, reused: 2, processed: [3] });
    const slotOf = new Map(run.results[0].usable.map((u) => [u.entry.name, u.slot]));
    expect(slotOf.size).toBe(5);
    expect(new Set(['Female/F0.jpg', 'Female/F1.jpg', 'Female/F2.jpg'].map((name) => slotOf.get(name))).size).toBe(1);
    expect(new Set(slotOf.values()).size).toBe(3);
  });

  it('prunes what no current file uses, never what another folder in the cache still uses', async () => {
    // Shade 0 finds no face: its record holds a reason, not a crop.
    const a = await makeFolder('a', { Female: [0, 10, 20, 30], Male: [40, 50, 60, 70] });
    const b = await makeFolder('b', { Female: [110, 120, 130], Male: [140, 150, 160] });
    const cropsOfA = (await prepare([a])).crops[0];
    const cropsOfB = (await prepare([b])).crops[0];
    expect(binSlots()).toBe(13);

    // A run over part of a folder (export crops Validation and Test only) keeps the crops of the rest.
    expect((await prepare([a], (name) => name.startsWith('Female/'))).pruned).toEqual({ records: 0, bytes: 0 });

    // A folder this run does not list, touched by a copy or a sync (new mtimes, the same content), keeps its crops:
    // its own next run reads its files to key them again, and crops none.
    const later = new Date(Date.now() + 3_600_000);
    for (const cls of ['Female', 'Male'])
      for (const file of readdirSync(join(b, cls))) utimesSync(join(b, cls, file), later, later);
    expect((await prepare([a])).pruned).toEqual({ records: 0, bytes: 0 });
    expect(await prepare([b])).toMatchObject({ read: 6, processed: [0], crops: [cropsOfB] });

    // Files deleted from a folder this run does not list: their records go, the rest of it stays.
    rmSync(join(a, 'Male', 'M0.jpg'));
    rmSync(join(a, 'Female', 'F0.jpg'));
    const afterDelete = await prepare([b]);
    expect(afterDelete.pruned).toEqual({ records: 2, bytes: record });
    expect(binSlots()).toBe(12);
    expect(afterDelete.crops[0]).toEqual(cropsOfB);
    const again = await prepare([a]);
    expect(again).toMatchObject({ read: 0, processed: [0] });
    cropsOfA.delete('Male/M0.jpg');
    expect(again.crops[0]).toEqual(cropsOfA);

    // A folder that is gone releases all of its records; the crops moved into the freed slots are intact.
    rmSync(a, { recursive: true });
    const afterRemove = await prepare([b]);
    expect(afterRemove.pruned).toEqual({ records: 6, bytes: 6 * record });
    expect(binSlots()).toBe(6);
    expect(indexLines()).toBe(6);
    expect(afterRemove.crops[0]).toEqual(cropsOfB);
    expect(await prepare([b])).toMatchObject({ read: 0, processed: [0], crops: [cropsOfB] });
  });

  it('carries crops made under the old name|size|mtime keys over to content keys', async () => {
    const a = await makeFolder('a', { Female: [0, 10, 20], Male: [40, 50, 60] });
    const old = open();
    const entries = listDataset(a).entries;
    entries.forEach((e, i) => {
      if (e.name === 'Female/F0.jpg') old.addFailure(legacyKey(e), 'no-face', 'no face found');
      else old.addCrop(legacyKey(e), new Uint8Array(record).fill(i), {});
    });
    // A record of a file that is not in this folder: nothing says where it came from, so it is kept.
    old.addCrop('Train/Male/elsewhere.jpg|1234|1', new Uint8Array(record).fill(99), {});
    old.close();

    const run = await prepare([a]);
    expect(run).toMatchObject({ read: 6, adopted: 6, reused: 0, processed: [0] });
    expect(run.results[0].noFace.map((n) => n.entry.name)).toEqual(['Female/F0.jpg']);
    for (const [i, e] of entries.entries())
      if (e.name !== 'Female/F0.jpg') expect(run.crops[0].get(e.name)).toBe(digest(Buffer.alloc(record, i)));
    expect(run.pruned).toEqual({ records: 6, bytes: 0 });
    expect(indexLines()).toBe(7);
    expect(binSlots()).toBe(6);
  });

  it('opens correctly at each point where a pruning process can be killed', () => {
    // A prune of "b" from slots a0 b1 c2 d3: the index is rewritten without b, d's crop is copied into slot 1 and
    // a line points d at it, crops.bin is cut to 3 slots, and the index is rewritten once more.
    const crop = (fill: number) => Buffer.alloc(record, fill);
    /** The byte a crop is filled with (all of them the same), or -1. */
    const fillOf = (bytes: Uint8Array) => (bytes.every((b) => b === bytes[0]) ? bytes[0] : -1);
    const line = (rec: object) => JSON.stringify(rec) + '\n';
    const withoutB = line({ key: 'a', slot: 0 }) + line({ key: 'c', slot: 2 }) + line({ key: 'd', slot: 3 });
    const states = {
      'index rewritten': { index: withoutB, bin: [1, 2, 3, 4] },
      'crop copied': { index: withoutB, bin: [1, 4, 3, 4] },
      'line appended': { index: withoutB + line({ key: 'd', slot: 1 }), bin: [1, 4, 3, 4] },
      'line torn': { index: withoutB + '{"key":"d","sl', bin: [1, 4, 3, 4] },
      'crops.bin cut': { index: withoutB + line({ key: 'd', slot: 1 }), bin: [1, 4, 3] },
    };
    for (const [state, { index, bin }] of Object.entries(states)) {
      open().close();
      writeFileSync(join(cacheDir(), 'index.jsonl'), index);
      writeFileSync(join(cacheDir(), 'crops.bin'), Buffer.concat(bin.map(crop)));
      const cache = open();
      const read = (key: string) => fillOf(cache.readSlots([cache.get(key)?.slot as number]));
      expect(cache.has('b'), state).toBe(false);
      expect([read('a'), read('c'), read('d')], state).toEqual([1, 3, 4]);
      // The next prune finishes the job, and the next crop goes after every slot in use, never over one.
      cache.prune(new Set(['a', 'c', 'd']));
      expect(binSlots(), state).toBe(3);
      expect([read('a'), read('c'), read('d')], state).toEqual([1, 3, 4]);
      cache.addCrop('e', crop(5), {});
      expect([read('a'), read('c'), read('d'), read('e')], state).toEqual([1, 3, 4, 5]);
      cache.close();
      rmSync(cacheBase, { recursive: true });
    }
  });

  it('holds out a tenth of a folder without Validation by file name, as before', async () => {
    const shades = Array.from({ length: 30 }, (_, i) => 10 + 7 * i);
    const a = await makeFolder('a', { Female: shades, Male: shades.map((x) => x + 1) });
    const cache = open();
    const dataset = listDataset(a);
    const { results } = await prepareCrops([dataset.entries], cache, mainThreadCropper(detector, DEFAULT_CROP));
    const source = sourceData('a', dataset, results[0], cache, DEFAULT_CROP.size);
    const names = dataset.entries.map((e) => e.name);
    expect(source.heldOut).toBe(true);
    expect(source.validation.names).toEqual(names.filter(isHeldOut));
    expect(source.train.names).toEqual(names.filter((n) => !isHeldOut(n)));
    const slotOf = new Map(results[0].usable.map((u) => [u.entry.name, u.slot]));
    const last = source.validation.n - 1;
    expect(digest(source.validation.x.subarray(last * record))).toBe(
      digest(cache.readSlots([slotOf.get(source.validation.names[last]) as number])),
    );
    expect(source.train.y).toEqual(Uint8Array.from(source.train.names, (n) => (n.startsWith('Male/') ? 1 : 0)));
    cache.close();
  });

  it('keeps what an interrupted run keyed: a torn line of files.jsonl is dropped, the rest is trusted', async () => {
    const a = await makeFolder('a', { Female: [10, 20], Male: [40, 50] });
    await prepare([a]);
    const files = join(cacheDir(), 'files.jsonl');
    writeFileSync(files, readFileSync(files, 'utf8') + '["/torn/line.jpg", 12');
    expect(await prepare([a])).toMatchObject({ read: 0, processed: [0] });
    expect(readFileSync(files, 'utf8').split('\n').slice(0, -1)).toHaveLength(4);
  });
});
