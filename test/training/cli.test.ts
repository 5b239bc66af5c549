import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CELEBA, DATA_DIR, hasData, SCENES, smallDataset } from '../support/data';

const ROOT = join(__dirname, '..', '..');
/** A crop cache of the tests' own: the user's would gain the test crops, and be locked while a test crops. */
const CROPS = mkdtempSync(join(tmpdir(), 'facesense-cli-crops-'));
const tsx = (script: string, args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'training', 'cli', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, FACESENSE_CROP_CACHE: CROPS },
  });

describe.skipIf(!hasData)(`training CLIs on ${DATA_DIR}`, () => {
  const run = `test-${process.pid}`;
  let data: string;
  let out: string;

  beforeAll(() => {
    data = smallDataset({ Train: 200, Validation: 60, Test: 40 });
    out = join(data, 'model');
  });
  afterAll(() => {
    rmSync(data, { recursive: true, force: true });
    rmSync(CROPS, { recursive: true, force: true });
    rmSync(join(ROOT, 'training', 'runs', run), { recursive: true, force: true });
  });

  it('lists the shared CelebA set with the counts its README gives', async () => {
    const { listDataset, countBy } = await import('../../training/lib/data/dataset');
    const ds = listDataset(CELEBA);
    expect(ds.layout).toBe('kaggle');
    expect(ds.entries).toHaveLength(27469);
    expect(countBy(ds.entries)).toEqual({
      Train: { Male: 8256, Female: 12343 },
      Validation: { Male: 853, Female: 2007 },
      Test: { Male: 1627, Female: 2383 },
    });
  });

  it('trains 4 epochs on 400 crops, beats the majority class on held-out crops, and exports', () => {
    // A short run: momentum 0.9 lets BatchNorm's moving statistics forget their initial values within it.
    const r = tsx('train.ts', [
      '--data',
      data,
      // The smaller net keeps this test quick, and the next ones widen its export.
      '--arch',
      'compact',
      '--epochs',
      '4',
      '--batch',
      '16',
      '--bn-momentum',
      '0.9',
      // The default, robust, learns more slowly than 4 epochs on 400 crops can show.
      '--augment',
      'light',
      '--run',
      run,
      '--out',
      out,
    ]);
    // 3: trained and exported, but a few of these CelebA images have no face BlazeFace finds (listed).
    expect([0, 3], r.stderr + r.stdout).toContain(r.status);
    expect(r.stdout).toMatch(/epoch 4\/4: loss/);
    const metadata = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
    // Validation and Test are balanced here (a face or two aside), so the majority class scores about 50 %.
    expect(metadata.metrics.validation.images).toBeGreaterThan(110);
    expect(metadata.metrics.validation.accuracy).toBeGreaterThan(0.6);
    expect(metadata.metrics.test.accuracy).toBeGreaterThan(0.6);
    // The count is of the weights shipped, as a soup of exports counts them.
    const manifest = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).weightsManifest;
    const shipped = manifest
      .flatMap((group: { weights: { shape: number[] }[] }) => group.weights)
      .reduce((n: number, w: { shape: number[] }) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    expect(metadata.parameters).toBe(shipped);
    expect(existsSync(join(ROOT, 'training', 'runs', run, 'curves.svg'))).toBe(true);
    expect(existsSync(join(ROOT, 'training', 'runs', run, 'history.json'))).toBe(true);
    // As long as the process may take: on a busy 2-core machine 4 epochs can pass two minutes.
  }, 600_000);

  it('exports a model that loads back and predicts like the trained one, within the uint8 quantization error', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const { initTrainingBackend } = await import('../../training/lib/fit/wasm/setup');
    const { loadModelFiles } = await import('../../training/lib/model/model-files');
    const { loadClassifierDir } = await import('../../training/cli/common');
    await initTrainingBackend();
    const trained = await loadModelFiles(join(ROOT, 'training', 'runs', run, 'best'));
    const exported = await loadClassifierDir(out);
    const x = tf.randomUniform([64, 64, 64, 3], 0, 255) as import('@tensorflow/tfjs-core').Tensor4D;
    const { temperature, bias } = exported.metadata;
    expect(Number.isFinite(bias)).toBe(true);
    // The exported classifier applies the fitted calibration; undo it to compare raw probabilities.
    const logit = (p: number) => Math.log(p / (1 - p));
    const a = Array.from(await (trained.predict(x) as import('@tensorflow/tfjs-core').Tensor).data());
    const b = Array.from(await exported.classify(x)).map((p) => 1 / (1 + Math.exp(-(logit(p) - bias!) * temperature)));
    const maxDiff = Math.max(...a.map((p, i) => Math.abs(p - b[i])));
    expect(maxDiff).toBeLessThan(0.02);
    tf.dispose(x);
    trained.dispose();
    exported.dispose();
  });

  it('keeps every epoch and exports the mean of the last ones (--average)', () => {
    const runDir = join(ROOT, 'training', 'runs', run);
    expect(['001', '002', '003', '004'].map((e) => existsSync(join(runDir, 'epochs', e, 'model.json')))).toEqual(
      Array(4).fill(true),
    );
    const averagedOut = join(data, 'model-averaged');
    const r = tsx('export.ts', ['--run', run, '--data', data, '--average', '3-4', '--out', averagedOut]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exported the mean of epochs 3–4 of /);
    const metadata = JSON.parse(readFileSync(join(averagedOut, 'metadata.json'), 'utf8'));
    expect(metadata.training).toMatchObject({ epochs: 4, averagedEpochs: [3, 4] });
    expect(metadata.metrics.validation.accuracy).toBeGreaterThan(0.6);
    const beyond = tsx('export.ts', ['--run', run, '--data', data, '--average', '3-6', '--out', averagedOut]);
    expect(beyond.status).toBe(1);
    expect(beyond.stderr).toMatch(/no weights of epoch 5, 6 .*it trained 4 epochs/);
    const backwards = tsx('export.ts', ['--run', run, '--data', data, '--average', '4-3']);
    expect(backwards.status).toBe(2);
    expect(backwards.stderr).toMatch(/--average takes two epochs/);
  }, 600_000);

  it('refuses to start over a run that has a checkpoint unless told to resume', () => {
    const again = tsx('train.ts', ['--data', data, '--epochs', '2', '--run', run, '--out', out]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/--resume/);
  });

  it('starts a new run from the last checkpoint of another (--from), with its own options and crop', () => {
    const tuned = `${run}-from`;
    const tunedOut = join(data, 'model-from');
    try {
      const r = tsx('train.ts', [
        ...['--data', data, '--from', run, '--run', tuned, '--out', tunedOut],
        ...['--epochs', '1', '--batch', '16', '--lr', '0.0001', '--augment', 'robust', '--crop-scale', '1.25'],
        ...['--label-smoothing', '0.1', '--mixup', '0.2'],
      ]);
      expect([0, 3], r.stderr + r.stdout).toContain(r.status);
      expect(r.stdout).toMatch(/starting from .*checkpoint, after its epoch 4/);
      expect(r.stdout).toMatch(/epoch 1\/1: loss/);
      const metadata = JSON.parse(readFileSync(join(tunedOut, 'metadata.json'), 'utf8'));
      expect(metadata.training).toMatchObject({ from: run, epochs: 1, lr: 0.0001, labelSmoothing: 0.1, mixup: 0.2 });
      // How the run it started from had trained, up to the checkpoint taken.
      expect(metadata.training.fromTraining).toMatchObject({ epochs: 4, batch: 16, augment: 'light' });
      expect(metadata.crop).toEqual({ size: 64, scale: 1.25, offsetY: -0.05 });
      expect(metadata.metrics.validation.accuracy).toBeGreaterThan(0.6);
      const reexported = tsx('export.ts', ['--run', tuned, '--out', join(data, 'model-from-again')]);
      expect(reexported.status, reexported.stderr).toBe(0);
      const again = JSON.parse(readFileSync(join(data, 'model-from-again', 'metadata.json'), 'utf8'));
      expect(again.crop.scale).toBe(1.25);
      expect(again.metrics.validation).toEqual(metadata.metrics.validation);
      const missing = tsx('train.ts', ['--data', data, '--from', `${run}-none`, '--run', `${tuned}-2`]);
      expect(missing.status).toBe(2);
      expect(missing.stderr).toMatch(/--from .*-none: no checkpoint/);
      const tiny = tsx('train.ts', ['--data', data, '--from', run, '--run', `${tuned}-3`, '--crop-scale', '0.5']);
      expect(tiny.status).toBe(2);
      expect(tiny.stderr).toMatch(/--crop-scale must be between 1 and 3, got "0.5"/);
      const smooth = tsx('train.ts', [
        '--data',
        data,
        '--from',
        run,
        '--run',
        `${tuned}-4`,
        '--label-smoothing',
        '0.5',
      ]);
      expect(smooth.status).toBe(2);
      expect(smooth.stderr).toMatch(/--label-smoothing must be at least 0 and below 0.5, got "0.5"/);
      const blend = tsx('train.ts', ['--data', data, '--from', run, '--run', `${tuned}-5`, '--mixup', '11']);
      expect(blend.status).toBe(2);
      expect(blend.stderr).toMatch(/--mixup must be between 0 and 10, got "11"/);
    } finally {
      rmSync(join(ROOT, 'training', 'runs', tuned), { recursive: true, force: true });
    }
  }, 600_000);

  it('distils from exported models (--teacher, one or an ensemble), records them, and refuses a teacher it cannot use', () => {
    const taught = `${run}-taught`;
    const taughtOut = join(data, 'model-taught');
    const shipped = join(ROOT, 'public', 'models', 'gender');
    try {
      const r = tsx('train.ts', [
        ...['--data', data, '--from', run, '--run', taught, '--out', taughtOut],
        ...['--epochs', '1', '--batch', '16', '--lr', '0.0001', '--teacher', out, '--teacher', shipped],
        ...['--distill', '0.3'],
      ]);
      expect([0, 3], r.stderr + r.stdout).toContain(r.status);
      expect(r.stdout).toMatch(
        /distilling from 2 teachers \(.*model, .*gender\) \(weight 0\.3\): their mean agrees with \d+\.\d % of the Train labels/,
      );
      const metadata = JSON.parse(readFileSync(join(taughtOut, 'metadata.json'), 'utf8'));
      const versionOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')).version;
      expect(metadata.training.distill).toEqual({
        teachers: [
          { dir: out, version: versionOf(out) },
          { dir: shipped, version: versionOf(shipped) },
        ],
        weight: 0.3,
      });
      const { key, probs } = JSON.parse(
        readFileSync(join(ROOT, 'training', 'runs', taught, 'teacher-probs.json'), 'utf8'),
      );
      expect(key.startsWith(`${versionOf(out)} + ${versionOf(shipped)} `)).toBe(true);
      expect(probs.every((p: number) => p > 0 && p < 1)).toBe(true);
      // A run from before several teachers recorded its one teacher so; it resumes with that teacher alone.
      const stateFile = join(ROOT, 'training', 'runs', taught, 'checkpoint', 'state.json');
      const state = JSON.parse(readFileSync(stateFile, 'utf8'));
      state.options.distill = { teacher: out, version: versionOf(out), weight: 0.3 };
      writeFileSync(stateFile, JSON.stringify(state));
      const resumed = tsx('train.ts', ['--resume', '--run', taught, '--epochs', '2']);
      expect([0, 3], resumed.stderr + resumed.stdout).toContain(resumed.status);
      expect(resumed.stdout).toMatch(
        /distilling from .*model \(weight 0\.3\): it agrees with \d+\.\d % of the Train labels/,
      );
      expect(JSON.parse(readFileSync(join(taughtOut, 'metadata.json'), 'utf8')).training.distill).toEqual({
        teachers: [{ dir: out, version: versionOf(out) }],
        weight: 0.3,
      });
      // A teacher given as probabilities joins the models for its folder's crops, and is recorded with its sha256.
      const probsFile = join(data, 'teacher-probs.json');
      const trainNames = ['Male', 'Female'].flatMap((cls) =>
        readdirSync(join(data, 'Train', cls)).map((f) => join('Train', cls, f)),
      );
      const listed = { source: basename(data), probs: Object.fromEntries(trainNames.map((n) => [n, 0.5])) };
      writeFileSync(probsFile, JSON.stringify(listed));
      const withProbs = tsx('train.ts', [
        ...['--data', data, '--from', run, '--run', `${taught}-5`, '--out', taughtOut, '--epochs', '1'],
        ...['--batch', '16', '--lr', '0.0001', '--teacher', out, '--teacher-probs', probsFile],
      ]);
      expect([0, 3], withProbs.stderr + withProbs.stdout).toContain(withProbs.status);
      expect(withProbs.stdout).toMatch(
        /distilling from 2 teachers \(.*model, .*teacher-probs\.json for facesense-data-\w+\) \(weight 0\.5\): their mean agrees/,
      );
      expect(JSON.parse(readFileSync(join(taughtOut, 'metadata.json'), 'utf8')).training.distill.probs).toEqual({
        file: probsFile,
        source: basename(data),
        sha256: createHash('sha256').update(readFileSync(probsFile)).digest('hex'),
      });
      writeFileSync(probsFile, JSON.stringify({ ...listed, probs: { [trainNames[0]]: 0.5 } }));
      const changed = tsx('train.ts', ['--resume', '--run', `${taught}-5`, '--epochs', '2']);
      expect(changed.status).toBe(1);
      expect(changed.stderr).toMatch(/--teacher-probs .*: the file has changed since this run started from it/);
      const lacking = tsx('train.ts', [
        ...['--data', data, '--from', run, '--run', `${taught}-6`, '--teacher', out, '--teacher-probs', probsFile],
      ]);
      expect(lacking.status).toBe(1);
      expect(lacking.stderr).toMatch(
        /--teacher-probs .*: the teacher's probabilities lack \d+ of .*'s \d+ Train crops/,
      );
      const unaided = tsx('train.ts', [
        '--data',
        data,
        '--from',
        run,
        '--run',
        `${taught}-7`,
        '--teacher-probs',
        probsFile,
      ]);
      expect(unaided.status).toBe(2);
      expect(unaided.stderr).toMatch(/--teacher-probs joins the teachers of --teacher: pass --teacher/);
      const heavy = tsx('train.ts', [
        '--data',
        data,
        '--from',
        run,
        '--run',
        `${taught}-2`,
        '--teacher',
        out,
        '--distill',
        '0.6',
      ]);
      expect(heavy.status).toBe(2);
      expect(heavy.stderr).toMatch(/--distill must be above 0 and at most 0.5, got "0.6"/);
      const alone = tsx('train.ts', ['--data', data, '--from', run, '--run', `${taught}-3`, '--distill', '0.3']);
      expect(alone.status).toBe(2);
      expect(alone.stderr).toMatch(/--distill sets the weight of a teacher: pass --teacher/);
      const other = tsx('train.ts', [
        ...['--data', data, '--from', run, '--run', `${taught}-4`, '--teacher', out, '--crop-scale', '1.25'],
      ]);
      expect(other.status).toBe(1);
      expect(other.stderr).toMatch(
        /--teacher .*: that model sees crops at 1\.3× of 64 px; this run cuts 1\.25× of 64 px/,
      );
    } finally {
      for (const name of [taught, `${taught}-4`, `${taught}-5`, `${taught}-6`])
        rmSync(join(ROOT, 'training', 'runs', name), { recursive: true, force: true });
    }
  }, 600_000);

  it('starts a new run from an exported model (--from a model folder), widened to the wide net, then deepened', () => {
    const tuned = `${run}-wide`;
    const tunedOut = join(data, 'model-wide');
    const deepened = `${run}-deep`;
    const deepOut = join(data, 'model-deep');
    try {
      const r = tsx('train.ts', [
        ...['--data', data, '--from', out, '--arch', 'wide', '--run', tuned, '--out', tunedOut],
        ...['--epochs', '1', '--batch', '16', '--lr', '0.0001'],
      ]);
      expect([0, 3], r.stderr + r.stdout).toContain(r.status);
      expect(r.stdout).toMatch(/starting from the exported model in .*model, BatchNorm unfolded on \d+ Train crops/);
      expect(r.stdout).toMatch(/widened from compact to wide/);
      expect(r.stdout).toMatch(/^wide: 446,601 parameters/m);
      const metadata = JSON.parse(readFileSync(join(tunedOut, 'metadata.json'), 'utf8'));
      expect(metadata.metrics.validation.accuracy).toBeGreaterThan(0.6);
      const fromMetadata = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
      expect(metadata.training.fromVersion).toBe(fromMetadata.version);
      expect(metadata.training.fromTraining).toEqual(fromMetadata.training);

      // That wide export deepened: the deep net's repeated blocks start as identities.
      const d = tsx('train.ts', [
        ...['--data', data, '--from', tunedOut, '--arch', 'deep', '--run', deepened, '--out', deepOut],
        ...['--epochs', '1', '--batch', '16', '--lr', '0.0001'],
      ]);
      expect([0, 3], d.stderr + d.stdout).toContain(d.status);
      expect(d.stdout).toMatch(/deepened from wide to deep: its added blocks start as identities/);
      expect(d.stdout).toMatch(/^deep: 489,809 parameters/m);
      expect(JSON.parse(readFileSync(join(deepOut, 'metadata.json'), 'utf8')).arch).toBe('deep');
    } finally {
      for (const name of [tuned, deepened])
        rmSync(join(ROOT, 'training', 'runs', name), { recursive: true, force: true });
    }
  }, 600_000);

  it('exports the mean of exported models (--soup), records each, and refuses models it cannot average', async () => {
    const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
    const ingredients = [out, join(data, 'model-averaged')];
    const soupOut = join(data, 'model-soup');
    const r = tsx('export.ts', [...ingredients.flatMap((dir) => ['--soup', dir]), '--out', soupOut]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exported the mean of 2 models to /);
    const metadata = read(soupOut);
    expect(metadata.arch).toBe('compact');
    expect(metadata.parameters).toBe(read(out).parameters);
    expect(metadata.metrics.validation.accuracy).toBeGreaterThan(0.6);
    expect(metadata.training).toEqual({
      soup: ingredients.map((dir) => ({ dir, version: read(dir).version, training: read(dir).training })),
    });
    // Its weights are the ingredients' mean, taken in one gauge (averageModels equalizes each) and equalized again
    // as every uint8 export is, then rounded to uint8 once more: within one step of each tensor's range.
    const { initTrainingBackend } = await import('../../training/lib/fit/wasm/setup');
    const { loadModelFiles } = await import('../../training/lib/model/model-files');
    const { averageModels } = await import('../../training/lib/model/average');
    const { equalizeRanges } = await import('../../training/lib/model/equalize');
    await initTrainingBackend();
    const expected = await averageModels(ingredients);
    equalizeRanges(expected);
    const soup = await loadModelFiles(soupOut);
    const means = expected.getWeights().map((w) => Array.from(w.dataSync()));
    soup.getWeights().forEach((w, i) => {
      const values = Array.from(w.dataSync());
      const step = (Math.max(...values) - Math.min(...values)) / 255;
      const error = Math.max(...values.map((v, k) => Math.abs(v - means[i][k])));
      expect(error).toBeLessThanOrEqual(step + 1e-6);
    });
    [expected, soup].forEach((m) => m.dispose());

    const mixed = tsx('export.ts', ['--soup', out, '--soup', join(data, 'model-wide'), '--out', soupOut]);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toMatch(/model-wide: that model is wide .*only models of one architecture and crop/);
    const alone = tsx('export.ts', ['--soup', out, '--out', soupOut]);
    expect(alone.status).toBe(2);
    expect(alone.stderr).toMatch(/--soup takes two or more model folders/);
    const both = tsx('export.ts', ['--run', run, ...ingredients.flatMap((dir) => ['--soup', dir])]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/pass --run <name>, or --soup <model dir> twice or more/);
  }, 600_000);

  it('predicts every face of a photo as JSON, and says so when there is none', () => {
    const photo = join(SCENES, 'single_facerec_obama-720p.jpg');
    const dogs = join(SCENES, 'negative_dlib_dogs.jpg');
    const r = tsx('predict.ts', ['--json', '--model', out, photo, dogs]);
    expect(r.status).toBe(3);
    const results = JSON.parse(r.stdout);
    expect(results.map((x: { file: string }) => x.file)).toEqual([photo, dogs]);
    expect(results[0].faces).toHaveLength(1);
    const [face] = results[0].faces;
    expect(face.box).toHaveLength(4);
    expect(face.detectionScore).toBeGreaterThan(0.75);
    expect(['female', 'male', 'uncertain']).toContain(face.label);
    expect(face.probabilityMale).toBeGreaterThanOrEqual(0);
    expect(face.confidence).toBeGreaterThanOrEqual(0.5);
    expect(results[1].faces).toEqual([]);
    const text = tsx('predict.ts', ['--model', out, dogs]);
    expect(text.stdout).toMatch(/no face found/);
  });

  it('refuses a model whose files do not match the sums in its metadata.json', () => {
    const metadata = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
    expect(Object.keys(metadata.weights).sort()).toEqual(['model.json', 'weights.bin']);
    const damaged = mkdtempSync(join(tmpdir(), 'facesense-damaged-'));
    try {
      cpSync(out, damaged, { recursive: true });
      const weights = readFileSync(join(damaged, 'weights.bin'));
      weights[weights.length >> 1] ^= 0xff;
      writeFileSync(join(damaged, 'weights.bin'), weights);
      const r = tsx('predict.ts', ['--model', damaged, join(SCENES, 'single_facerec_obama-720p.jpg')]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/weights\.bin does not match its sha256/);
    } finally {
      rmSync(damaged, { recursive: true, force: true });
    }
  });
});
