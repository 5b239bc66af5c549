import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  ftruncateSync,
  linkSync,
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
import { FileKeys } from './file-keys';
import { readLines, writeLinesAtomically } from './lines';
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

type Failure = Required<Pick<CacheRecord, 'kind' | 'error'>>;
/** What memory holds of a record: its slot, or why it has none. Boxes and landmarks stay in the index file. */
type Held = number | Failure;

/** How many records, and bytes of crops.bin, a prune freed. */
export interface Pruned {
  records: number;
  bytes: number;
}

/**
 * The key of a file's content: a copy of the file, or the same photo under another name, has the same key.
 * SHA-256 is the fastest hash Node offers here (the CPU computes it), a few µs for a CelebA image.
 */
export function contentKey(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/**
 * The key files were cached under before content keys (name in the folder, size, mtime): read only to carry such
 * records over, since a copy of the data, which changes every mtime, missed all of them.
 */
export function legacyKey(e: Pick<DatasetEntry, 'name' | 'size' | 'mtimeMs'>): string {
  return `${e.name}|${e.size}|${e.mtimeMs}`;
}

const isLegacy = (key: string) => key.includes('|');

/** A damaged line can still parse as JSON: trust only lines shaped like a record. */
function isRecord(rec: Partial<CacheRecord> | null): rec is CacheRecord {
  if (typeof rec?.key !== 'string') return false;
  if (rec.slot === undefined) return rec.kind === 'no-face' || rec.kind === 'unreadable';
  return Number.isInteger(rec.slot) && rec.slot >= 0;
}

function parseRecord(line: string): CacheRecord | null {
  try {
    const rec = JSON.parse(line) as CacheRecord | null;
    return isRecord(rec) ? rec : null;
  } catch {
    return null;
  }
}

/**
 * An append-only, crash-tolerant store of face crops keyed by the content of their file: `crops.bin` holds
 * fixed-size RGB records and `index.jsonl` one line per record (a later line for a key overrides an earlier one).
 * Crops are appended before their index line, so after a crash the index never points at missing bytes; a torn
 * last line or bytes past the last indexed slot are dropped when it is reopened, and so are the crops a truncated
 * crops.bin lost (they are made again). `files` remembers each file's key, so unchanged files are not read again.
 * Only one process may use it at a time: a lock file holds the user's pid, and a lock whose process has gone is
 * taken over. `openCropCache` waits for a process that holds it.
 */
export class CropCache {
  readonly dir: string;
  readonly recordBytes: number;
  readonly files: FileKeys;
  private readonly records = new Map<string, Held>();
  /** Lines in index.jsonl: more than there are records when some were superseded. */
  private lines = 0;
  private nextSlot = 0;
  private readonly binFd: number;
  private indexFd: number;
  private readonly indexPath: string;
  private readonly lockPath: string;
  /** Old-format keys whose record was carried over to a content key by this process. */
  private readonly adopted = new Set<string>();

  constructor(baseDir: string, settings: CropSettings, detectorKey: string) {
    this.dir = join(baseDir, `${cropSettingsKey(settings)}-${detectorKey}`);
    this.recordBytes = settings.size * settings.size * 3;
    mkdirSync(this.dir, { recursive: true });
    this.lockPath = join(this.dir, 'lock');
    lock(this.lockPath);
    this.indexPath = join(this.dir, 'index.jsonl');
    const kept = existsSync(this.indexPath) ? readLines(this.indexPath, (line) => this.take(line)) : 0;
    this.indexFd = openSync(this.indexPath, 'a+');
    ftruncateSync(this.indexFd, kept);
    for (const held of this.records.values())
      if (typeof held === 'number') this.nextSlot = Math.max(this.nextSlot, held + 1);
    // Not 'a+': Linux appends every write of a file opened for appending, and prune writes crops into holes.
    this.binFd = openSync(join(this.dir, 'crops.bin'), constants.O_RDWR | constants.O_CREAT);
    const binRecords = Math.floor(fstatSync(this.binFd).size / this.recordBytes);
    if (binRecords < this.nextSlot) this.dropSlotsFrom(binRecords);
    ftruncateSync(this.binFd, this.nextSlot * this.recordBytes);
    this.files = new FileKeys(join(this.dir, 'files.jsonl'));
  }

  /** Takes one index line; false at the first line that is not a whole record (the rest is not trusted). */
  private take(line: string): boolean {
    const rec = parseRecord(line);
    if (!rec) return false;
    this.records.set(rec.key, rec.slot ?? { kind: rec.kind as Failure['kind'], error: rec.error ?? String(rec.kind) });
    this.lines++;
    return true;
  }

  /** crops.bin is shorter than the index says (it was truncated or damaged): forget the crops it lost. */
  private dropSlotsFrom(slots: number): void {
    for (const [key, held] of this.records) if (typeof held === 'number' && held >= slots) this.records.delete(key);
    this.nextSlot = slots;
    this.rewriteIndex();
  }

  /**
   * Rewrites index.jsonl with one line per record, atomically: the record's first line (the one with its box and
   * landmarks), with the slot it has now.
   */
  private rewriteIndex(): void {
    closeSync(this.indexFd);
    const written = new Set<string>();
    writeLinesAtomically(this.indexPath, (write) => {
      readLines(this.indexPath, (line) => {
        const rec = parseRecord(line);
        if (!rec) return false;
        const held = this.records.get(rec.key);
        if (held === undefined || written.has(rec.key)) return true;
        written.add(rec.key);
        if (typeof held !== 'number') write(JSON.stringify({ key: rec.key, ...held }));
        else write(JSON.stringify(rec.slot === undefined ? { key: rec.key, slot: held } : { ...rec, slot: held }));
        return true;
      });
    });
    this.indexFd = openSync(this.indexPath, 'a+');
    this.lines = written.size;
  }

  get(key: string): CacheRecord | undefined {
    const held = this.records.get(key);
    if (held === undefined) return undefined;
    return typeof held === 'number' ? { key, slot: held } : { key, ...held };
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  addCrop(key: string, pixels: Uint8Array, meta: Pick<CacheRecord, 'box' | 'score' | 'landmarks'>): void {
    if (pixels.length !== this.recordBytes)
      throw new Error(`crop has ${pixels.length} bytes, expected ${this.recordBytes}`);
    const slot = this.nextSlot++;
    writeSync(this.binFd, pixels, 0, pixels.length, slot * this.recordBytes);
    this.append(key, slot, { key, slot, ...meta });
  }

  addFailure(key: string, kind: 'no-face' | 'unreadable', error: string): void {
    this.append(key, { kind, error }, { key, kind, error });
  }

  /**
   * Carries the record of a file's old-format key over to its content key (unless that key has one already) and
   * marks the old one for pruning; false when there is no such record.
   */
  adopt(legacy: string, key: string): boolean {
    const held = this.records.get(legacy);
    if (held === undefined) return false;
    this.adopted.add(legacy);
    if (!this.records.has(key))
      this.append(key, held, typeof held === 'number' ? { key, slot: held } : { key, ...held });
    return true;
  }

  private append(key: string, held: Held, line: CacheRecord): void {
    this.records.set(key, held);
    this.lines++;
    writeSync(this.indexFd, JSON.stringify(line) + '\n');
  }

  /**
   * Drops the records whose content no current file has (`used`), then moves the crops of the last slots into the
   * freed ones and shrinks crops.bin. Records under old-format keys are kept until their file is seen again, as
   * nothing tells which folder they came from. Each step leaves a cache that opens correctly if the process dies:
   * the index is rewritten without the dropped records before any crop moves into their slots, and a moved crop is
   * written before the index line that points at it.
   */
  prune(used: ReadonlySet<string>): Pruned {
    const drop: string[] = [];
    for (const key of this.records.keys()) if (isLegacy(key) ? this.adopted.has(key) : !used.has(key)) drop.push(key);
    for (const key of drop) this.records.delete(key);
    const slotsBefore = this.nextSlot;
    if (drop.length > 0 || this.lines > this.records.size) this.rewriteIndex();
    this.compact();
    return { records: drop.length, bytes: (slotsBefore - this.nextSlot) * this.recordBytes };
  }

  /**
   * Moves the crops above the number of slots in use into the free slots below it, then truncates crops.bin. Free
   * slots are also what a prune killed before this step left.
   */
  private compact(): void {
    const owned = new Uint8Array(this.nextSlot);
    for (const held of this.records.values()) if (typeof held === 'number') owned[held] = 1;
    const live = owned.reduce((n, o) => n + o, 0);
    if (live === this.nextSlot) return;
    const moves = new Map<number, number>();
    let to = 0;
    for (let from = live; from < this.nextSlot; from++) {
      if (!owned[from]) continue;
      while (owned[to]) to++;
      moves.set(from, to++);
    }
    const crop = new Uint8Array(this.recordBytes);
    for (const [from, slot] of moves) {
      readSync(this.binFd, crop, 0, this.recordBytes, from * this.recordBytes);
      writeSync(this.binFd, crop, 0, this.recordBytes, slot * this.recordBytes);
    }
    for (const [key, held] of this.records) {
      const slot = typeof held === 'number' ? moves.get(held) : undefined;
      if (slot !== undefined) this.append(key, slot, { key, slot });
    }
    this.nextSlot = live;
    ftruncateSync(this.binFd, live * this.recordBytes);
    if (moves.size > 0) this.rewriteIndex();
  }

  /** Reads the crops of the given slots into one buffer, in order; runs of consecutive slots are read at once. */
  readSlots(slots: readonly number[]): Uint8Array {
    const out = new Uint8Array(slots.length * this.recordBytes);
    for (let i = 0; i < slots.length;) {
      let run = 1;
      while (i + run < slots.length && slots[i + run] === slots[i] + run && run < MAX_RUN) run++;
      const bytes = run * this.recordBytes;
      const n = readSync(this.binFd, out, i * this.recordBytes, bytes, slots[i] * this.recordBytes);
      if (n !== bytes)
        throw new Error(`crop cache ${this.dir} is truncated at slot ${slots[i] + Math.floor(n / this.recordBytes)}`);
      i += run;
    }
    return out;
  }

  /** Also lets go of the records: a training run keeps its CropCache object alive as long as it runs. */
  close(): void {
    this.records.clear();
    this.files.close();
    closeSync(this.binFd);
    closeSync(this.indexFd);
    rmSync(this.lockPath, { force: true });
  }
}

/** At most this many crops per read: one read is limited to 2 GiB. */
const MAX_RUN = 4096;

/** The lock keeps this process out: a `CacheInUseError` passes once its holder lets go, any other needs the user. */
export class CacheLockError extends Error {}

export class CacheInUseError extends CacheLockError {}

/**
 * Opens the crop cache, waiting while another live process holds it (a train or prepare-data holds it only while it
 * crops, so a second run started beside it can go on after): `onWait` hears why once, then it tries every `pollMs`.
 */
export async function openCropCache(
  baseDir: string,
  settings: CropSettings,
  detectorKey: string,
  onWait: (message: string) => void,
  pollMs = 2000,
): Promise<CropCache> {
  let told = false;
  for (;;) {
    try {
      return new CropCache(baseDir, settings, detectorKey);
    } catch (err) {
      if (!(err instanceof CacheInUseError)) throw err;
      if (!told) onWait(`${err.message}: waiting for it to let go`);
      told = true;
      await new Promise((resume) => setTimeout(resume, pollMs));
    }
  }
}

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
    // No file any more: its taker has just finished.
    if (taker === null || isRunning(taker)) throw inUse(path, taker);
    throw new CacheLockError(
      `the crop cache ${dirname(path)} was left half taken over by process ${taker}, which has gone: delete ` +
        `${takeover} and run again`,
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

/**
 * Creates `path` holding this process's id; false if it exists. The id is written under a name of this process's own
 * and linked into place, so that no other process ever reads the file without it.
 */
function createExclusive(path: string): boolean {
  const draft = `${path}.${process.pid}`;
  writeFileSync(draft, String(process.pid));
  try {
    linkSync(draft, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(draft, { force: true });
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
      `(another train or prepare-data, until its "detect+crop" step ends; delete ${path} if that process is not ` +
      'one of ours)',
  );
}
