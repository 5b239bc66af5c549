import { closeSync, openSync, readSync, renameSync, writeSync } from 'node:fs';

/**
 * Calls `take` on each complete line of a file, in order, until it returns false; returns the length in bytes of
 * the lines it took. A torn last line (no newline) is never passed. Reads 1 MiB at a time, so that an index of
 * 200,000 lines is never one string in memory.
 */
export function readLines(path: string, take: (line: string) => boolean): number {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    let taken = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return taken;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let end = data.indexOf(10); end !== -1; end = data.indexOf(10, start)) {
        if (!take(data.toString('utf8', start, end))) return taken;
        taken += end + 1 - start;
        start = end + 1;
      }
      // A copy: the next read reuses `chunk`.
      carry = Buffer.from(data.subarray(start));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the lines `fill` gives to `path` through a temporary file and a rename, so that a crash leaves the old file
 * or the new one, never a mix.
 */
export function writeLinesAtomically(path: string, fill: (write: (line: string) => void) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    let batch: string[] = [];
    fill((line) => {
      batch.push(line);
      if (batch.length === 4096) {
        writeSync(fd, batch.join('\n') + '\n');
        batch = [];
      }
    });
    if (batch.length > 0) writeSync(fd, batch.join('\n') + '\n');
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
