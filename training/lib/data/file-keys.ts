import { closeSync, existsSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { readLines, writeLinesAtomically } from './lines';

/** A file as a data folder's listing sees it (DatasetEntry has these fields). */
export interface FileStat {
  path: string;
  size: number;
  mtimeMs: number;
}

interface FileKey {
  size: number;
  mtimeMs: number;
  key: string;
}

/**
 * The content key each file had when it had its current size and mtime (files.jsonl in a crop cache folder), so
 * that a file that has not changed is not read again to key it: at 200,000 images that read is the whole data
 * set. A line is appended per file as it is keyed, so an interrupted run keeps what it learnt; a torn last line
 * is dropped when the file is reopened.
 */
export class FileKeys {
  private readonly files = new Map<string, FileKey>();
  private fd: number;
  /** Lines in the file: more than `files.size` when files were keyed again. */
  private lines = 0;

  constructor(readonly path: string) {
    const kept = existsSync(path) ? readLines(path, (line) => this.parse(line)) : 0;
    this.fd = openSync(path, 'a+');
    ftruncateSync(this.fd, kept);
  }

  private parse(line: string): boolean {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return false;
    }
    if (!Array.isArray(value) || value.length !== 4) return false;
    const [path, size, mtimeMs, key] = value as unknown[];
    if (typeof path !== 'string' || typeof key !== 'string') return false;
    if (!Number.isFinite(size) || !Number.isFinite(mtimeMs)) return false;
    this.files.set(path, { size: size as number, mtimeMs: mtimeMs as number, key });
    this.lines++;
    return true;
  }

  /** The key the file was given, if it still has the size and mtime it had then. */
  keyOf(path: string, size: number, mtimeMs: number): string | undefined {
    const known = this.files.get(path);
    return known && known.size === size && known.mtimeMs === mtimeMs ? known.key : undefined;
  }

  remember(path: string, size: number, mtimeMs: number, key: string): void {
    this.files.set(path, { size, mtimeMs, key });
    this.lines++;
    writeSync(this.fd, JSON.stringify([path, size, mtimeMs, key]) + '\n');
  }

  /**
   * Forgets the files that are gone, and those this run listed with another size or mtime than they were keyed at,
   * and returns the keys of the files that remain: the content in use, by the folders of this run and by any other
   * folder keyed into this cache before. `current` is what this run has just listed. A file it did not list that
   * still exists keeps its key even when its mtime moved (a copy or a sync of the data touches every file): only
   * reading it would tell whether its content changed, and forgetting it would throw its crop away. Its folder's next
   * run keys it again.
   */
  settle(current: Iterable<FileStat>): Set<string> {
    const listed = new Map<string, FileStat>();
    for (const file of current) listed.set(file.path, file);
    for (const [path, known] of this.files) {
      const now = listed.get(path);
      if (now ? now.size !== known.size || now.mtimeMs !== known.mtimeMs : !existsSync(path)) this.files.delete(path);
    }
    if (this.lines > this.files.size) {
      closeSync(this.fd);
      writeLinesAtomically(this.path, (write) => {
        for (const [path, k] of this.files) write(JSON.stringify([path, k.size, k.mtimeMs, k.key]));
      });
      this.fd = openSync(this.path, 'a+');
      this.lines = this.files.size;
    }
    return new Set(Array.from(this.files.values(), (k) => k.key));
  }

  close(): void {
    this.files.clear();
    closeSync(this.fd);
  }
}
