import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { cropSettingsKey, type CropSettings } from '../../../src/core/crop';
import type { Box, Point } from '../../../src/core/geometry';
import type { DatasetEntry } from './dataset';
import { isRunning } from '../node-io';

/** One file's outcome: a crop (at `slot` in crops.bin) or the reason there is none. */
export interface CacheRecord {
  key: string;
  slot?: number;
  box?: Box;
  score?: number;
  landmarks?: Point[];
  /** Why no crop was made: "no face found" or the decoder's reason. */
  error?: string;
  kind?: 'no-face' | 'unreadable';
}

export function entryKey(e: Pick<DatasetEntry, 'name' | 'size' | 'mtimeMs'>): string {
  return `${e.name}|${e.size}|${e.mtimeMs}`;
}

/** A damaged line can still parse as JSON: trust only lines shaped like a record. */
function isRecord(rec: Partial<CacheRecord> | null): rec is CacheRecord {
  if (typeof rec?.key !== 'string') return false;
  if (rec.slot === undefined) return rec.kind === 'no-face' || rec.kind === 'unreadable';
  return Number.isInteger(rec.slot) && rec.slot >= 0;
}

/**
 * An append-only, crash-tolerant store of face crops: `crops.bin` holds fixed-size RGB records and `index.jsonl`
 * one line per processed file. Crops are appended before their index line, so after a crash the index never
 * points at missing bytes; a torn last line or bytes past the last indexed slot are dropped when it is reopened,
 * and so are the crops a truncated crops.bin lost (they are made again). Only one process may use it at a time:
 * a lock file holds the user's pid, and a lock whose process has gone is taken over.
 */
export class CropCache {
  readonly dir: string;
  readonly recordBytes: number;
  private readonly records = new Map<string, CacheRecord>();
  private nextSlot = 0;
  private binFd: number;
  private indexFd: number;
  private readonly lockPath: string;

  constructor(baseDir: string, settings: CropSettings, detectorKey: string) {
    this.dir = join(baseDir, `${cropSettingsKey(settings)}-${detectorKey}`);
    this.recordBytes = settings.size * settings.size * 3;
    mkdirSync(this.dir, { recursive: true });
    this.lockPath = join(this.dir, 'lock');
    lock(this.lockPath);
    const indexPath = join(this.dir, 'index.jsonl');
    const kept = existsSync(indexPath) ? this.readIndex(indexPath) : 0;
    this.indexFd = openSync(indexPath, 'a+');
    ftruncateSync(this.indexFd, kept);
    this.binFd = openSync(join(this.dir, 'crops.bin'), 'a+');
    const binRecords = Math.floor(fstatSync(this.binFd).size / this.recordBytes);
    if (binRecords < this.nextSlot) this.dropSlotsFrom(binRecords, indexPath);
    ftruncateSync(this.binFd, this.nextSlot * this.recordBytes);
  }

  /** Reads the valid prefix of the index; returns its length in bytes. */
  private readIndex(path: string): number {
    const text = readFileSync(path, 'utf8');
    let offset = 0;
    for (const line of text.split('\n')) {
      const end = offset + line.length + 1;
      if (end > text.length) break; // no newline: a torn write
      let rec: CacheRecord;
      try {
        rec = JSON.parse(line) as CacheRecord;
      } catch {
        break;
      }
      if (!isRecord(rec)) break;
      this.records.set(rec.key, rec);
      if (rec.slot !== undefined) this.nextSlot = Math.max(this.nextSlot, rec.slot + 1);
      offset = end;
    }
    return Buffer.byteLength(text.slice(0, offset));
  }

  /** crops.bin is shorter than the index says (it was truncated or damaged): forget the crops it lost. */
  private dropSlotsFrom(slots: number, indexPath: string): void {
    for (const [key, rec] of this.records) if (rec.slot !== undefined && rec.slot >= slots) this.records.delete(key);
    this.nextSlot = slots;
    closeSync(this.indexFd);
    this.indexFd = openSync(indexPath, 'w+');
    const lines = [...this.records.values()].map((r) => JSON.stringify(r) + '\n').join('');
    writeSync(this.indexFd, lines);
  }

  get(key: string): CacheRecord | undefined {
    return this.records.get(key);
  }

  addCrop(key: string, pixels: Uint8Array, meta: Pick<CacheRecord, 'box' | 'score' | 'landmarks'>): void {
    if (pixels.length !== this.recordBytes)
      throw new Error(`crop has ${pixels.length} bytes, expected ${this.recordBytes}`);
    const slot = this.nextSlot++;
    writeSync(this.binFd, pixels, 0, pixels.length, slot * this.recordBytes);
    this.append({ key, slot, ...meta });
  }

  addFailure(key: string, kind: 'no-face' | 'unreadable', error: string): void {
    this.append({ key, kind, error });
  }

  private append(rec: CacheRecord): void {
    this.records.set(rec.key, rec);
    writeSync(this.indexFd, JSON.stringify(rec) + '\n');
  }

  /** Reads the crops of the given slots into one buffer, in order. */
  readSlots(slots: readonly number[]): Uint8Array {
    const out = new Uint8Array(slots.length * this.recordBytes);
    slots.forEach((slot, i) => {
      const n = readSync(this.binFd, out, i * this.recordBytes, this.recordBytes, slot * this.recordBytes);
      if (n !== this.recordBytes) throw new Error(`crop cache ${this.dir} is truncated at slot ${slot}`);
    });
    return out;
  }

  close(): void {
    closeSync(this.binFd);
    closeSync(this.indexFd);
    rmSync(this.lockPath, { force: true });
  }
}

export class CacheInUseError extends Error {}

/** Two writers would append crops at the same slots and interleave their index lines, so a second one is refused. */
function lock(path: string): void {
  if (createExclusive(path)) return;
  const holder = readPid(path);
  if (holder !== null && isRunning(holder)) throw inUse(path, holder);
  // The holder has gone. Two processes can find that at the same moment, so replacing its lock is exclusive too:
  // only the one that creates the takeover file replaces it, and only if it is still the lock that was found.
  const takeover = `${path}.takeover`;
  if (!createExclusive(takeover)) {
    const taker = readPid(takeover);
    if (taker !== null && isRunning(taker)) throw inUse(path, taker);
    throw new CacheInUseError(
      `the crop cache ${dirname(path)} was left half taken over by process ${taker ?? '(unknown)'}, which has ` +
        `gone: delete ${takeover} and run again`,
    );
  }
  try {
    const now = readPid(path);
    if (now !== holder) throw inUse(path, now);
    writeFileSync(path, String(process.pid));
  } finally {
    rmSync(takeover, { force: true });
  }
}

/** Creates `path` holding this process's id; false if it exists. */
function createExclusive(path: string): boolean {
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** The process id a lock file holds, or null if it holds none or is gone. */
function readPid(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const pid = Number(text);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function inUse(path: string, holder: number | null): CacheInUseError {
  return new CacheInUseError(
    `the crop cache ${dirname(path)} is in use by ${holder === null ? 'another process' : `process ${holder}`} ` +
      `(another train or prepare-data): wait for it to finish its "detect+crop" step, or delete ${path} if that ` +
      'process is not one of ours',
  );
}
