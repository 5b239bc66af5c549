import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DIR } from '../support/data';
import { isHeldOut } from '../../training/lib/data/splits';

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

function run(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'training', 'cli', 'evaluate.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
}

/** Runs the evaluate CLI with --json and returns its report, once it has exited 0 or 3. */
function evaluate(args: string[]) {
  const r = run(['--json', ...args]);
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
    expect(json.recallGap).toBeCloseTo(json.perClass.female.recall - json.perClass.male.recall, 12);
    expect(json).toMatchObject({ groups: {}, worstGroup: null, groupGap: {} });
    for (const file of ['index.html', 'summary.md', 'report.json'])
      expect(existsSync(join(report, file)), file).toBe(true);
    const html = readFileSync(join(report, 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Most confident mistakes');
  });

  it('evaluates only the tenth that training holds out with --split Validation, and refuses --split Test', () => {
    const names = ['Male', 'Female'].flatMap((dir) => readdirSync(join(data, dir)).map((file) => `${dir}/${file}`));
    const json = evaluate(['--data', data, '--split', 'validation']);
    expect(json.images).toBe(names.filter(isHeldOut).length);
    expect(json.split).toBe('the held-out tenth');
    const test = run(['--data', data, '--split', 'Test']);
    expect(test.status).toBe(2);
    expect(test.stderr).toMatch(/plain \{Male,Female\} folder, without a Test split: leave --split out/);
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

describe.skipIf(!existsSync(GENDERFACES))('evaluate --by', () => {
  let data: string;
  let report: string;

  /*
   * Each of 6 male and 6 female photos twice: under its own class ("kept") and under the other ("swapped"). The
   * same pixels give the same face and score, so a face right when kept is wrong when swapped.
   */
  beforeAll(() => {
    data = mkdtempSync(join(tmpdir(), 'facesense-groups-'));
    report = join(data, 'report');
    const ages = ['25', '30-39', 'more than 70', ''];
    const rows = ['file,note,swap,all,sex,age'];
    for (const dir of ['Male', 'Female']) mkdirSync(join(data, dir));
    for (const [from, other, prefix] of [
      ['Male', 'Female', 'm'],
      ['Female', 'Male', 'f'],
    ]) {
      readdirSync(join(GENDERFACES, from))
        .sort()
        .slice(0, 6)
        .forEach((file, k) => {
          for (const [dir, swap] of [
            [from, 'kept'],
            [other, 'swapped'],
          ]) {
            const name = `${dir}/${prefix}-${file}`;
            symlinkSync(join(GENDERFACES, from, file), join(data, name));
            rows.push(`${name},"${swap}, from ${from}",${swap},all,${dir === 'Male' ? 'M' : 'F'},${ages[k % 4]}`);
          }
        });
    }
    writeFileSync(join(data, 'labels.csv'), rows.join('\n') + '\n');
  });
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('reports each group, the worst group and the gaps, in JSON, Markdown and HTML', () => {
    const json = evaluate(['--data', data, '--by', 'swap,all,sex,age,sex+age', '--min-group', '5', '--report', report]);
    const { kept, swapped } = json.groups.swap;
    expect(kept.n).toBe(12);
    expect(swapped.n).toBe(12);
    expect(swapped.facesFound).toBe(kept.facesFound);
    expect(kept.facesFound).toBeGreaterThanOrEqual(5);
    expect(kept.accuracy).toBeGreaterThan(0.8);
    expect(swapped.accuracy).toBeCloseTo(1 - kept.accuracy, 12);
    expect(swapped.femaleRecall).toBeCloseTo(1 - kept.maleRecall, 12);
    expect(json.worstGroup).toEqual({ column: 'swap', group: 'swapped', accuracy: swapped.accuracy });
    expect(json.groupGap.swap).toBeCloseTo(kept.accuracy - swapped.accuracy, 12);

    // One group of everything: the overall figures. Groups by class: one recall each.
    expect(json.groups.all).toEqual({
      all: {
        n: 24,
        facesFound: json.facesFound,
        accuracy: expect.closeTo(json.accuracy, 12),
        balancedAccuracy: expect.closeTo(json.balancedAccuracy, 12),
        femaleRecall: expect.closeTo(json.perClass.female.recall, 12),
        maleRecall: expect.closeTo(json.perClass.male.recall, 12),
      },
    });
    expect(json.groupGap.all).toBeNull();
    expect(json.groups.sex.M).toMatchObject({ n: 12, femaleRecall: null, balancedAccuracy: null });
    expect(json.groups.sex.M.accuracy).toBeCloseTo(json.perClass.male.recall, 12);

    // Photos k = 0…5 of each class get ages 25, 30-39, more than 70, blank, 25, 30-39: 25 and 30-39 band
    // together (8 photos, 16 images), "more than 70" is 60+ (4 images), the 4 blanks are in no group.
    expect(Object.keys(json.groups.age)).toEqual(['20–39', '60+']);
    expect(json.groups.age['20–39'].n).toBe(16);
    expect(json.groups.age['60+'].n).toBe(4);
    // Crossed, each sex's ages apart; the blanks are grouped by sex alone.
    const crossed: Record<string, { n: number }> = json.groups['sex+age'];
    expect(Object.fromEntries(Object.entries(crossed).map(([g, s]) => [g, s.n]))).toEqual({
      F: 2,
      'F 20–39': 8,
      'F 60+': 2,
      M: 2,
      'M 20–39': 8,
      'M 60+': 2,
    });

    const summary = readFileSync(join(report, 'summary.md'), 'utf8');
    expect(summary).toContain('## Accuracy by swap');
    expect(summary).toContain(
      '| swap | images | faces found | accuracy | balanced accuracy | female recall | male recall |',
    );
    expect(summary).toMatch(/Worst group: swapped \(/);
    expect(summary).toContain('4 images have no age and are in no group.');
    const html = readFileSync(join(report, 'index.html'), 'utf8');
    expect(html).toContain('Accuracy by group');
    expect((html.match(/<svg/g) ?? []).length).toBe(2 + 5);
  });

  it('exits 2 with one error line, before loading a model, without labels.csv or with a column it lacks', () => {
    const noModel = ['--model', join(data, 'no-model')];
    const noLabels = mkdtempSync(join(tmpdir(), 'facesense-nolabels-'));
    try {
      symlinkSync(join(data, 'Male'), join(noLabels, 'Male'));
      const missingFile = run(['--data', noLabels, '--by', 'race', ...noModel]);
      expect(missingFile.status).toBe(2);
      expect(missingFile.stderr).toMatch(/^error: --by needs \S+labels\.csv, which does not exist\n$/);
    } finally {
      rmSync(noLabels, { recursive: true, force: true });
    }
    const missingColumn = run(['--data', data, '--by', 'swap,race+age', ...noModel]);
    expect(missingColumn.status).toBe(2);
    expect(missingColumn.stderr).toMatch(/^error: \S+labels\.csv has no column "race" \(it has file, note, swap/);
    expect(missingColumn.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
