import { spawn, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CROP } from '../../src/core/crop';
import { DATA_DIR, hasData, smallDataset } from '../support/data';

const ROOT = join(__dirname, '..', '..');
/** The command line that runs a TypeScript script as npm's scripts do. */
const script = (path: string, ...args: string[]) => [process.execPath, '--import', 'tsx', path, ...args];

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` and, once `when` says so (checked on each output chunk and every 20 ms), sends it `signal`,
 * `times` times 50 ms apart: to the process alone, or with `group` to every process it starts, as a terminal's
 * Ctrl-C reaches npm, its shell and the script together. Resolves when it has exited.
 */
function runAndSignal(
  command: string[],
  env: NodeJS.ProcessEnv,
  when: (out: { stdout: string; stderr: string }) => boolean,
  signal: NodeJS.Signals,
  { times = 1, group = false } = {},
): Promise<Finished & { signalled: boolean }> {
  const child = spawn(command[0], command.slice(1), { cwd: ROOT, env, detached: group });
  const out = { stdout: '', stderr: '' };
  let signalled = false;
  const send = () => (group ? process.kill(-child.pid!, signal) : child.kill(signal));
  const check = () => {
    if (!signalled && child.exitCode === null && when(out)) {
      signalled = true;
      for (let i = 0; i < times; i++) setTimeout(send, 50 * i);
    }
  };
  child.stdout.on('data', (d) => ((out.stdout += d), check()));
  child.stderr.on('data', (d) => ((out.stderr += d), check()));
  const poll = setInterval(check, 20);
  return new Promise((resolve) =>
    child.on('close', (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, ...out, signalled });
    }),
  );
}

describe.skipIf(!hasData)(`no lost work (${DATA_DIR})`, () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  const data: string[] = [];
  const runs: string[] = [];
  const tsx = (cli: string, args: string[]) => {
    const [node, ...argv] = script(join(ROOT, 'training', 'cli', cli), ...args);
    return spawnSync(node, argv, { cwd: ROOT, encoding: 'utf8', timeout: 600_000, env });
  };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'facesense-no-lost-work-'));
    // A crop cache of its own: the shared one may be in use by a training run, and one test damages it.
    env = { ...process.env, FACESENSE_CROP_CACHE: join(work, 'crops') };
  });
  afterAll(() => {
    for (const dir of [work, ...data, ...runs.map((r) => join(ROOT, 'training', 'runs', r))])
      rmSync(dir, { recursive: true, force: true });
  });

  it('SIGINT and SIGTERM mid-epoch save a checkpoint; --resume ends with exactly --epochs epochs', async () => {
    const run = `no-lost-work-${process.pid}`;
    runs.push(run);
    data.push(smallDataset({ Train: 16, Validation: 4, Test: 0 }));
    // A race for each Train face, so that the run trains an auxiliary head, whose weights a resume must keep too.
    const faces = ['Male', 'Female'].flatMap((cls) =>
      readdirSync(join(data[0], 'Train', cls)).map((f) => `Train/${cls}/${f}`),
    );
    const races = ['Black', 'Indian', 'White'];
    writeFileSync(
      join(data[0], 'labels.csv'),
      ['file,race', ...faces.map((f, i) => `${f},${races[i % 3]}`)].join('\n'),
    );
    const checkpoint = join(ROOT, 'training', 'runs', run, 'checkpoint');
    const state = () => JSON.parse(readFileSync(join(checkpoint, 'state.json'), 'utf8'));
    const train = join(ROOT, 'training', 'cli', 'train.ts');
    const args = ['--data', data[0], '--epochs', '3', '--batch', '8', '--steps-per-epoch', '3', '--workers', '1'];
    args.push('--aux', 'race', '--run', run, '--out', join(work, 'model'));
    // The progress bar of an epoch is on screen: the signal lands between two of its batches.
    const inEpoch = (n: number) => (out: { stderr: string }) => new RegExp(`epoch ${n}/3 \\[`).test(out.stderr);

    // One Ctrl-C can arrive three times: from the terminal, and relayed by npm and by the tsx command.
    const first = await runAndSignal(script(train, ...args), env, inEpoch(1), 'SIGINT', { times: 3 });
    expect(first.code, first.stderr).toBe(130);
    expect(first.stdout).toMatch(/SIGINT: saving a checkpoint/);
    expect(first.stdout).toContain(`--resume --run ${run}`);
    const stopped = state();
    expect(stopped.epoch).toBe(0);
    expect(stopped.step).toBeGreaterThan(0);
    // What the stopped epoch's batches added up to, kept for its record once resumed.
    expect(stopped.unfinished).toMatchObject({ seen: stopped.step * 8 });
    expect(stopped.unfinished.seconds).toBeGreaterThan(0);
    expect(stopped.unfinished.auxLossSum).toBeGreaterThan(0);
    expect(stopped.auxHeads).toHaveLength(1);
    expect(stopped.auxHeads[0]).toMatchObject({ column: 'race', groups: races });
    expect(stopped.auxHeads[0].bias).toHaveLength(3);

    const second = await runAndSignal(script(train, ...args, '--resume'), env, inEpoch(2), 'SIGTERM');
    expect(second.code, second.stderr).toBe(130);
    expect(second.stdout).toMatch(new RegExp(`resuming .* at epoch 1, batch ${stopped.step + 1}`));
    expect(second.stdout).toMatch(/SIGTERM: saving a checkpoint/);
    expect(state()).toMatchObject({ epoch: 1 });
    expect(state().step).toBeGreaterThan(0);

    const last = tsx('train.ts', [...args, '--resume']);
    expect([0, 3], last.stderr + last.stdout).toContain(last.status);
    expect(last.stdout).toMatch(/epoch 3\/3: loss/);
    const history = JSON.parse(readFileSync(join(ROOT, 'training', 'runs', run, 'history.json'), 'utf8'));
    expect(history.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3]);
    expect(history[0].seconds).toBeGreaterThanOrEqual(stopped.unfinished.seconds);
    // The heads' loss is in every epoch's record, the two resumed ones included.
    history.forEach((e: { auxLoss: number }) => expect(e.auxLoss).toBeGreaterThan(0.1));
    expect(state()).toMatchObject({ epoch: 3, step: 0 });
    expect(state().unfinished).toBeUndefined();
    const metadata = JSON.parse(readFileSync(join(work, 'model', 'metadata.json'), 'utf8'));
    expect(metadata.training.aux).toEqual({ columns: ['race'], weight: 0.3 });
    // The head is the run's, not the model's: the export holds the gender unit only.
    expect(readFileSync(join(work, 'model', 'model.json'), 'utf8')).not.toContain('aux_race');
  }, 600_000);

  it('Ctrl-C on `npm run train` during a step reaches npm, its shell and train together, and still saves', async () => {
    const run = `no-lost-work-npm-${process.pid}`;
    runs.push(run);
    data.push(smallDataset({ Train: 64, Validation: 4, Test: 0 }));
    const args = ['--data', data[data.length - 1], '--epochs', '1', '--batch', '64', '--workers', '1'];
    args.push('--run', run, '--out', join(work, 'npm-model'));
    // The bar is drawn just before the first step, which holds the event loop for a good part of a second.
    const stepping = (out: { stderr: string }) => /epoch 1\/1 \[/.test(out.stderr);
    // A crop cache of its own: the killed-prepare test below counts every line of the shared one.
    const own = { ...env, FACESENSE_CROP_CACHE: join(work, 'npm-crops') };
    const r = await runAndSignal(['npm', 'run', 'train', '--', ...args], own, stepping, 'SIGINT', { group: true });
    expect(r.signalled).toBe(true);
    expect(r.stdout, r.stderr).toMatch(/SIGINT: saving a checkpoint/);
    const state = JSON.parse(readFileSync(join(ROOT, 'training', 'runs', run, 'checkpoint', 'state.json'), 'utf8'));
    expect(state.epoch).toBe(0);
    expect(state.step).toBeGreaterThan(0);
  }, 600_000);

  it('a process killed while it replaces a model folder leaves the old model whole, and its debris is cleared', async () => {
    const { recoverDir, replaceDirAtomically } = await import('../../training/lib/model/model-files');
    const models = join(work, 'models');
    const dest = join(models, 'gender');
    const files = (dir: string) =>
      Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
    const write = (dir: string, version: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', version }));
      writeFileSync(join(dir, 'weights.bin'), version.repeat(1000));
      writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ version }));
    };
    write(dest, 'old');
    const old = files(dest);

    // Killed in the middle of writing the new folder: one file written, one half written, one not yet.
    const writer = join(work, 'half-export.mjs');
    writeFileSync(
      writer,
      `import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
const { replaceDirAtomically } = await import(${JSON.stringify(join(ROOT, 'training', 'lib', 'model', 'model-files.ts'))});
await replaceDirAtomically(process.argv[2], async (tmp) => {
  (await import('node:fs')).mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'weights.bin'), 'new'.repeat(1000));
  writeFileSync(join(tmp, 'model.json'), '{"format": "layers-mo');
  console.log('writing');
  await new Promise(() => setInterval(() => {}, 1000));
});
`,
    );
    const killed = await runAndSignal(script(writer, dest), env, (o) => o.stdout.includes('writing'), 'SIGKILL');
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const debris = readdirSync(models).filter((f) => f.startsWith('.gender.tmp-'));
    expect(debris).toHaveLength(1);
    expect(files(dest)).toEqual(old);

    // The next replacement clears the dead process's half-written folder; a live process's is left alone.
    const alive = join(models, `.gender.tmp-${process.ppid}`);
    mkdirSync(alive);
    await replaceDirAtomically(dest, async (tmp) => write(tmp, 'new'));
    expect(files(dest)).toEqual({
      'model.json': JSON.stringify({ format: 'layers-model', version: 'new' }),
      'weights.bin': 'new'.repeat(1000),
      'metadata.json': JSON.stringify({ version: 'new' }),
    });
    expect(readdirSync(models).sort()).toEqual([`.gender.tmp-${process.ppid}`, 'gender']);
    rmSync(alive, { recursive: true });

    // Killed between its two renames: the folder is missing and the previous one waits under .old-<pid>.
    const deadPid = Number(debris[0].slice('.gender.tmp-'.length));
    write(join(models, `.gender.old-${deadPid}`), 'previous');
    write(join(models, `.gender.tmp-${deadPid}`), 'next');
    rmSync(dest, { recursive: true });
    recoverDir(dest);
    expect(readdirSync(models)).toEqual(['gender']);
    expect(JSON.parse(readFileSync(join(dest, 'metadata.json'), 'utf8'))).toEqual({ version: 'previous' });
  });

  it('the crop cache survives a killed prepare, and a truncated or damaged cache is redone, not trusted', async () => {
    data.push(smallDataset({ Train: 60, Validation: 10, Test: 10 }));
    const dataset = data[data.length - 1];
    const total = 160;
    const cacheBase = join(work, 'crops');
    const cacheDir = () => join(cacheBase, readdirSync(cacheBase)[0]);
    const index = () => join(cacheDir(), 'index.jsonl');
    const bin = () => join(cacheDir(), 'crops.bin');
    const lines = () => readFileSync(index(), 'utf8').split('\n').slice(0, -1);
    const record = DEFAULT_CROP.size * DEFAULT_CROP.size * 3;
    /** Every cached file's crop bytes, or why it has none. */
    const snapshot = () => {
      const crops = readFileSync(bin());
      return new Map(
        lines().map((l) => {
          const r = JSON.parse(l);
          return [r.key, r.slot === undefined ? r.kind : crops.subarray(r.slot * record, (r.slot + 1) * record)];
        }),
      );
    };
    const prepare = () => {
      const r = tsx('prepare.ts', ['--data', dataset]);
      expect([0, 3], r.stderr + r.stdout).toContain(r.status);
      return Number(new RegExp(`${total} images in .*; (\\d+) newly processed`).exec(r.stdout)?.[1]);
    };

    const indexed = () => {
      try {
        return lines().length;
      } catch {
        return 0; // not created yet
      }
    };
    const killed = await runAndSignal(
      script(join(ROOT, 'training', 'cli', 'prepare.ts'), '--data', dataset),
      env,
      () => indexed() >= 20,
      'SIGKILL',
    );
    expect(killed.signal, killed.stderr + killed.stdout).toBe('SIGKILL');
    const done = lines().length;
    expect(done).toBeLessThan(total);
    expect(prepare()).toBe(total - done);
    const complete = snapshot();
    expect(complete.size).toBe(total);
    expect(prepare()).toBe(0);

    // crops.bin cut in the middle of a crop: the crops it lost (and the torn one) are made again.
    const slots = Math.floor(statSync(bin()).size / record);
    truncateSync(bin(), Math.floor((slots - 2.5) * record));
    expect(prepare()).toBe(3);
    expect(snapshot()).toEqual(complete);

    // A garbled line, and one that is valid JSON but no record: neither they nor anything after them is trusted.
    const garbled = lines();
    garbled[garbled.length - 5] = '{"key":"Train/Male/0001';
    writeFileSync(index(), garbled.join('\n') + '\n');
    expect(prepare()).toBe(5);
    const wrongShape = lines();
    wrongShape[wrongShape.length - 2] = '[1, 2]';
    writeFileSync(index(), wrongShape.join('\n') + '\n');
    expect(prepare()).toBe(2);
    expect(snapshot()).toEqual(complete);
    expect(statSync(bin()).size).toBe([...complete.values()].filter((v) => typeof v !== 'string').length * record);
  }, 600_000);
});
