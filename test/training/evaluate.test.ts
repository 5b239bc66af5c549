import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DIR } from '../support/data';

const ROOT = join(__dirname, '..', '..');
const GENDERFACES = join(DATA_DIR, 'genderfaces');

/** A temp folder whose `to` class folders link the first `count` images of genderfaces' `from` class folders. */
function linkedFaces(classes: [from: string, to: string][], count: number): string {
  const data = mkdtempSync(join(tmpdir(), 'facesense-eval-'));
  for (const [from, to] of classes) {
    mkdirSync(join(data, to));
    for (const file of readdirSync(join(GENDERFACES, from)).sort().slice(0, count)) {
      symlinkSync(join(GENDERFACES, from, file), join(data, to, file));
    }
  }
  return data;
}

/** Runs the evaluate CLI with --json and returns its report, once it has exited 0 or 3. */
function evaluate(args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'training', 'cli', 'evaluate.ts'), '--json', ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  expect([0, 3], r.stderr).toContain(r.status);
  return JSON.parse(r.stdout);
}

describe.skipIf(!existsSync(GENDERFACES))('evaluate CLI on a plain {Male,Female} folder', () => {
  let data: string;
  let report: string;

  beforeAll(() => {
    data = linkedFaces(
      [
        ['Male', 'Male'],
        ['Female', 'Female'],
      ],
      12,
    );
    report = join(data, 'report');
  });
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('prints the JSON report scripts rely on and writes the HTML, Markdown and JSON files', () => {
    const json = evaluate(['--data', data, '--report', report]);
    for (const field of [
      'data',
      'images',
      'facesFound',
      'skipped',
      'accuracy',
      'accuracyAll',
      'balancedAccuracy',
      'auc',
      'ece',
      'coverage',
      'confidentAccuracy',
      'imagesPerSecond',
    ]) {
      expect(json, field).toHaveProperty(field);
    }
    expect(json.images).toBe(24);
    expect(json.facesFound).toBeGreaterThan(12);
    expect(json.perClass.male).toEqual({
      precision: expect.any(Number),
      recall: expect.any(Number),
      n: expect.any(Number),
    });
    expect(json.perClass.female.n + json.perClass.male.n).toBe(json.facesFound);
    expect(json.accuracyAll).toBeLessThanOrEqual(json.accuracy);
    for (const file of ['index.html', 'summary.md', 'report.json'])
      expect(existsSync(join(report, file)), file).toBe(true);
    const html = readFileSync(join(report, 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Most confident mistakes');
  });
});

describe.skipIf(!existsSync(GENDERFACES))('evaluate --mistakes', () => {
  let data: string;

  // Every image under the other class's folder: the model's confident labels are then mostly "mistakes".
  beforeAll(() => {
    data = linkedFaces(
      [
        ['Male', 'Female'],
        ['Female', 'Male'],
      ],
      10,
    );
  });
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('lists each confidently wrong image once, most confident first, as dataset names', () => {
    const list = join(data, 'mistakes.txt');
    const json = evaluate(['--data', data, '--mistakes', list]);
    const lines = readFileSync(list, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toMatch(/^# \d+ confident mistakes of model /);
    const rows = lines.slice(1).map((line) => line.split('\t'));
    const confidentWrong = Math.round(json.facesFound * json.coverage * (1 - json.confidentAccuracy));
    expect(confidentWrong).toBeGreaterThan(5);
    expect(rows).toHaveLength(confidentWrong);
    expect(new Set(rows.map(([name]) => name)).size).toBe(rows.length);
    for (const [name] of rows) expect(existsSync(join(data, name)), name).toBe(true);
    const percents = rows.map(([, note]) => Number(/(\d+)%$/.exec(note)?.[1]));
    expect(percents).toEqual([...percents].sort((a, b) => b - a));
    for (const [name, note] of rows) {
      const [, labelled, shown] = /^# labelled (male|female), shown (male|female) \d+%$/.exec(note) ?? [];
      expect(labelled, name).toBe(name.startsWith('Male/') ? 'male' : 'female');
      expect(shown, name).not.toBe(labelled);
    }
  });
});
