import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DIR } from '../support/data';

const ROOT = join(__dirname, '..', '..');
const GENDERFACES = join(DATA_DIR, 'genderfaces');

describe.skipIf(!existsSync(GENDERFACES))('evaluate CLI on a plain {Male,Female} folder', () => {
  let data: string;
  let report: string;

  beforeAll(() => {
    data = mkdtempSync(join(tmpdir(), 'facesense-eval-'));
    report = join(data, 'report');
    for (const cls of ['Male', 'Female']) {
      mkdirSync(join(data, cls));
      for (const file of readdirSync(join(GENDERFACES, cls)).sort().slice(0, 12)) {
        symlinkSync(join(GENDERFACES, cls, file), join(data, cls, file));
      }
    }
  });
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('prints the JSON report scripts rely on and writes the HTML, Markdown and JSON files', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'training', 'evaluate.ts'), '--data', data, '--json', '--report', report],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
    );
    expect([0, 3], r.stderr).toContain(r.status);
    const json = JSON.parse(r.stdout);
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
