import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');
const SRC = join(ROOT, 'src');

/** Code from strings: what the CSP (no 'unsafe-eval') would refuse at run time, found before it ships. */
const FORBIDDEN = [
  /\beval\s*\(/,
  /\bnew\s+Function\s*\(/,
  /(?<![.\w])Function\s*\(/,
  /\bset(?:Timeout|Interval)\s*\(\s*['"`]/,
  /\.innerHTML\s*=/,
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(ts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

describe("the app's own code", () => {
  it('never evaluates a string as code, nor writes HTML from strings', () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(10);
    const hits = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, i) =>
          FORBIDDEN.some((re) => re.test(line)) ? [`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`] : [],
        ),
    );
    expect(hits).toEqual([]);
  });

  it('is checked by patterns that do catch each form', () => {
    for (const line of ['eval(x)', 'new Function("a", "b")', 'Function("return this")()', "setTimeout('go()', 1)"]) {
      expect(
        FORBIDDEN.some((re) => re.test(line)),
        line,
      ).toBe(true);
    }
    for (const line of ['evaluate(x)', 'makeTrainFunction()', 'setTimeout(() => go(), 1)']) {
      expect(
        FORBIDDEN.some((re) => re.test(line)),
        line,
      ).toBe(false);
    }
  });
});
