import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CROP } from '../../src/core/crop';
import { CacheInUseError, CacheLockError, CropCache, openCropCache } from '../../training/lib/data/crop-cache';

const ROOT = join(__dirname, '..', '..');

describe('CropCache lock', () => {
  let base: string;
  const open = () => new CropCache(base, DEFAULT_CROP, 'test-detector');
  const lockFile = () => join(base, readdirSync(base)[0], 'lock');

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'facesense-cache-'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('refuses a second user while the first has it open, and names the holder', () => {
    const first = open();
    expect(readFileSync(lockFile(), 'utf8')).toBe(String(process.pid));
    expect(open).toThrow(CacheInUseError);
    expect(open).toThrow(`in use by process ${process.pid}`);
    first.addCrop('a|1|1', new Uint8Array(first.recordBytes).fill(7), {});
    first.close();
    const second = open();
    expect(second.get('a|1|1')?.slot).toBe(0);
    second.close();
  });

  /** The id of a process that has exited. */
  const gonePid = () =>
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;

  it('takes over the lock of a process that has gone', () => {
    open().close();
    writeFileSync(lockFile(), gonePid());
    const cache = open();
    expect(readFileSync(lockFile(), 'utf8')).toBe(String(process.pid));
    expect(existsSync(`${lockFile()}.takeover`)).toBe(false);
    cache.close();
  });

  it("leaves a gone process's lock to the one process that is already taking it over", () => {
    open().close();
    const gone = gonePid();
    writeFileSync(lockFile(), gone);
    writeFileSync(`${lockFile()}.takeover`, String(process.pid));
    expect(open).toThrow(`in use by process ${process.pid}`);
    expect(readFileSync(lockFile(), 'utf8')).toBe(gone);
  });

  it("lets exactly one of several processes that start at once take over a gone process's lock", async () => {
    open().close();
    writeFileSync(lockFile(), gonePid());
    const start = Date.now() + 3000;
    // Each process waits for the same instant, tries the cache, and holds what it got until all have tried.
    const script = `
      const { CropCache, CacheInUseError } = await import(${JSON.stringify(join(ROOT, 'training', 'lib', 'data', 'crop-cache.ts'))});
      while (Date.now() < ${start});
      let outcome;
      try { new CropCache(${JSON.stringify(base)}, ${JSON.stringify(DEFAULT_CROP)}, 'test-detector'); outcome = 'won'; }
      catch (err) { outcome = err instanceof CacheInUseError ? 'refused' : String(err); }
      process.stdout.write(outcome);
      setTimeout(() => {}, ${start} + 6000 - Date.now());`;
    const outcomes = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<string>((done) => {
            execFile(
              process.execPath,
              ['--import', 'tsx', '--input-type=module', '-e', script],
              { cwd: ROOT },
              (_, out) => done(out),
            );
          }),
      ),
    );
    expect(outcomes.sort()).toEqual(['refused', 'refused', 'refused', 'refused', 'refused', 'won']);
  }, 30_000);

  it('names the file to delete when a takeover was left behind by a process that has gone', () => {
    open().close();
    writeFileSync(lockFile(), gonePid());
    writeFileSync(`${lockFile()}.takeover`, gonePid());
    expect(open).toThrow(CacheLockError);
    expect(open).not.toThrow(CacheInUseError);
    expect(open).toThrow(`delete ${lockFile()}.takeover and run again`);
  });

  it('opens once the holder lets go, having said once why it waits', async () => {
    const first = open();
    const heard: string[] = [];
    const second = openCropCache(base, DEFAULT_CROP, 'test-detector', (why) => heard.push(why), 20);
    await new Promise((resume) => setTimeout(resume, 200));
    expect(heard).toEqual([expect.stringContaining(`in use by process ${process.pid}`)]);
    first.close();
    const cache = await second;
    expect(readFileSync(lockFile(), 'utf8')).toBe(String(process.pid));
    expect(heard).toHaveLength(1);
    cache.close();
  });

  it('does not wait on a takeover left behind, which needs the user', async () => {
    open().close();
    writeFileSync(lockFile(), gonePid());
    writeFileSync(`${lockFile()}.takeover`, gonePid());
    await expect(openCropCache(base, DEFAULT_CROP, 'test-detector', () => {}, 20)).rejects.toThrow(/delete .*takeover/);
  });
});
