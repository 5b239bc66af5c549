import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CROP } from '../../src/core/crop';
import { CacheInUseError, CropCache } from '../../training/crop-cache';

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

  it('takes over the lock of a process that has gone', () => {
    open().close();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(lockFile(), gone.stdout);
    const cache = open();
    expect(readFileSync(lockFile(), 'utf8')).toBe(String(process.pid));
    cache.close();
  });
});
