/**
 * Training and inference throughput of every architecture on wasm (and of compact and seed on cpu), measured in one
 * run on random 64×64 data, `compact`'s training throughput with 1, 2, … threads up to the core count, then a
 * per-kernel profile of one `compact` training step on wasm. `npm run bench:train [-- --json] [--baseline]`; a few
 * minutes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { BASELINE_KERNELS_ENV, initTrainingBackend } from '../lib/fit/wasm/setup';
import { registerWasmTrainingKernels } from '../lib/fit/wasm/grad-kernels';
import { buildModel, type Arch } from '../lib/model/models';
import { AUGMENT_PRESETS, mulberry32 } from '../../src/core/augment';
import { sampleBatchAugmentation } from '../lib/fit/augment';
import { createDataParallelStep } from '../lib/fit/data-parallel';
import { createTrainer } from '../lib/fit/trainer';

const SIZE = 64;
/** As `npm run train`: images per forward pass and per BatchNorm normalisation, the unit of a thread's work. */
const MICRO_BATCH = 32;
const json = process.argv.includes('--json');
/** One short measurement of `compact` on wasm: a smoke test of the command and its JSON, not a benchmark. */
const quick = process.argv.includes('--quick');
/**
 * Also times `compact` on wasm with the kernels grad-kernels.ts replaced (baseline-kernels.ts), alternating with the
 * current ones in the same run, so that a speed-up is a ratio measured under the same machine load.
 */
const baseline = process.argv.includes('--baseline');
/** The human-readable report; with --json, standard output carries the JSON alone. */
const log = (line: string) => (json ? undefined : console.log(line));

interface Plan {
  backend: 'wasm' | 'cpu';
  arch: Arch;
  batch: number;
  /** Untimed steps first: XNNPACK operator setup, Adam's moment variables, JIT. */
  warmup: number;
  steps: number;
}

// cpu trains ~100–1000× slower than wasm, so it gets the smallest batches and step counts that still mean something.
const PLANS: Plan[] = quick
  ? [{ backend: 'wasm', arch: 'compact', batch: 8, warmup: 1, steps: 1 }]
  : [
      { backend: 'wasm', arch: 'compact', batch: 64, warmup: 2, steps: 5 },
      { backend: 'wasm', arch: 'wide', batch: 64, warmup: 2, steps: 5 },
      { backend: 'wasm', arch: 'wide8', batch: 64, warmup: 2, steps: 5 },
      { backend: 'wasm', arch: 'wide64', batch: 64, warmup: 2, steps: 5 },
      { backend: 'wasm', arch: 'deep', batch: 64, warmup: 2, steps: 5 },
      { backend: 'wasm', arch: 'seed', batch: 32, warmup: 1, steps: 2 },
      { backend: 'cpu', arch: 'compact', batch: 4, warmup: 0, steps: 1 },
      { backend: 'cpu', arch: 'seed', batch: 1, warmup: 0, steps: 1 },
    ];

/**
 * Untimed steps before a thread count is timed. Each worker thread compiles its own wasm, and V8 optimises it over
 * the first steps, which would otherwise count against the thread counts that use workers.
 */
const SCALING_WARMUP_STEPS = quick ? 1 : 25;

type Kernels = 'current' | 'baseline';

/** Switches this thread's wasm kernels, and those of worker threads started from now on. */
async function useKernels(kernels: Kernels): Promise<void> {
  if (kernels === 'baseline') {
    process.env[BASELINE_KERNELS_ENV] = '1';
    (await import('../lib/fit/wasm/baseline-kernels')).registerBaselineKernels();
  } else {
    delete process.env[BASELINE_KERNELS_ENV];
    registerWasmTrainingKernels();
  }
}

const KERNELS: Kernels[] = baseline ? ['current', 'baseline'] : ['current'];

function randomBatch(n: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return tf.tidy(() => ({
    x: tf.randomUniform([n, SIZE, SIZE, 3], 0, 255, 'float32', 1) as tf.Tensor4D,
    y: tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2)),
  }));
}

function perSecond(images: number, ms: number): number {
  return (images * 1000) / ms;
}

interface Result extends Plan {
  train: number;
  infer: number;
}

function measure(plan: Plan): Result {
  const model = buildModel(plan.arch, { inputSize: SIZE });
  const trainer = createTrainer(model);
  const { x, y } = randomBatch(plan.batch);
  for (let i = 0; i < plan.warmup; i++) trainer.step(x, y);
  let start = performance.now();
  for (let i = 0; i < plan.steps; i++) trainer.step(x, y);
  const train = perSecond(plan.batch * plan.steps, performance.now() - start);
  const infer1 = () => tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync());
  infer1();
  start = performance.now();
  const inferRuns = Math.max(1, plan.steps);
  for (let i = 0; i < inferRuns; i++) infer1();
  const infer = perSecond(plan.batch * inferRuns, performance.now() - start);
  tf.dispose([x, y]);
  trainer.optimizer.dispose();
  model.dispose();
  return { ...plan, train, infer };
}

/**
 * `compact` on wasm as `npm run train` runs it, with 1, 2, … threads up to the core count: each batch split by
 * micro-batches of 32 between the threads, each augmenting its part (robust augmentation, the heaviest preset)
 * before its gradients. The batch is 32 per core, so every thread count has work.
 */
async function measureScaling(steps: number): Promise<Record<Kernels, Record<string, number>>> {
  await tf.setBackend('wasm');
  const cores = availableParallelism();
  const batch = MICRO_BATCH * cores;
  const { x, y } = randomBatch(batch);
  const imagesPerSecond: Record<Kernels, Record<string, number>> = { current: {}, baseline: {} };
  for (let threads = 1; threads <= cores; threads++) {
    for (const kernels of KERNELS) {
      await useKernels(kernels);
      imagesPerSecond[kernels][threads] = await measureThreads(threads, batch, x, y, steps);
    }
    const current = imagesPerSecond.current[threads];
    const base = imagesPerSecond.baseline[threads];
    log(
      `wasm  compact  batch ${String(batch).padStart(3)}, ${threads} thread${threads > 1 ? 's' : ' '}, augmented: ` +
        `train ${current.toFixed(2).padStart(7)} img/s, ×${(current / imagesPerSecond.current[1]).toFixed(2)} one thread` +
        (base
          ? `; baseline kernels ${base.toFixed(2).padStart(7)} img/s, current ×${(current / base).toFixed(3)}`
          : ''),
    );
  }
  await useKernels('current');
  tf.dispose([x, y]);
  return imagesPerSecond;
}

/** Images/s of `steps` augmented training steps of a fresh `compact` with `threads` threads. */
async function measureThreads(
  threads: number,
  batch: number,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  steps: number,
): Promise<number> {
  const model = buildModel('compact', { inputSize: SIZE });
  const trainer = createTrainer(model, { microBatch: MICRO_BATCH });
  const parallel = await createDataParallelStep(model, trainer, { threads, microBatch: MICRO_BATCH });
  const rng = mulberry32(1);
  const step = () => parallel.step(x, y, sampleBatchAugmentation(batch, rng, AUGMENT_PRESETS.robust));
  for (let i = 0; i < SCALING_WARMUP_STEPS; i++) await step();
  const start = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const imagesPerSecond = perSecond(batch * steps, performance.now() - start);
  await parallel.close();
  trainer.optimizer.dispose();
  model.dispose();
  return imagesPerSecond;
}

interface KernelTime {
  kernel: string;
  ms: number;
  percent: number;
  calls: number;
}

async function profileCompactStep(): Promise<{ wallMs: number; kernels: KernelTime[] }> {
  await tf.setBackend('wasm');
  const model = buildModel('compact', { inputSize: SIZE });
  const trainer = createTrainer(model, { microBatch: MICRO_BATCH });
  const { x, y } = randomBatch(64);
  trainer.step(x, y);
  trainer.step(x, y);
  const start = performance.now();
  const info = await tf.profile(() => {
    trainer.step(x, y);
  });
  const wallMs = performance.now() - start;
  // Op wrappers and custom-gradient scopes also appear in the profile; keep real kernels so nothing counts twice.
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    if (!tf.getKernel(k.name, 'wasm')) continue;
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += k.kernelTimeMs as number;
    entry.calls++;
    byKernel.set(k.name, entry);
  }
  const total = [...byKernel.values()].reduce((sum, e) => sum + e.ms, 0);
  const kernels = [...byKernel.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([kernel, e]) => ({ kernel, ms: e.ms, percent: (100 * e.ms) / total, calls: e.calls }));
  log(`\nProfile of one compact training step on wasm (batch 64): ${wallMs.toFixed(0)} ms wall under tf.profile,`);
  log(`${total.toFixed(0)} ms in ${info.kernels.length} kernel calls; the rest is JS (engine, tape, optimizer).`);
  log(`${'kernel'.padEnd(38)}${'ms'.padStart(8)}${'%'.padStart(7)}${'calls'.padStart(7)}`);
  for (const k of kernels.filter((k) => k.percent >= 0.5)) {
    log(
      `${k.kernel.padEnd(38)}${k.ms.toFixed(1).padStart(8)}${k.percent.toFixed(1).padStart(7)}${String(k.calls).padStart(7)}`,
    );
  }
  tf.dispose([x, y]);
  trainer.optimizer.dispose();
  model.dispose();
  return { wallMs, kernels };
}

async function main(): Promise<void> {
  if ((await initTrainingBackend('wasm')) !== 'wasm') throw new Error('wasm backend unavailable');
  const results: Result[] = [];
  let compactBaseline: Result | undefined;
  for (const plan of PLANS) {
    await tf.setBackend(plan.backend);
    const r = measure(plan);
    results.push(r);
    log(
      `${r.backend.padEnd(5)} ${r.arch.padEnd(8)} batch ${String(r.batch).padStart(3)}: ` +
        `train ${r.train.toFixed(2).padStart(7)} img/s, infer ${r.infer.toFixed(1).padStart(6)} img/s, ` +
        `train/infer ${(r.train / r.infer).toFixed(3)}`,
    );
    if (baseline && plan.backend === 'wasm' && plan.arch === 'compact') {
      await useKernels('baseline');
      compactBaseline = measure(plan);
      await useKernels('current');
      log(
        `${''.padEnd(6)}${'baseline kernels'.padEnd(20)}train ${compactBaseline.train.toFixed(2).padStart(7)} img/s, ` +
          `current ×${(r.train / compactBaseline.train).toFixed(3)}`,
      );
    }
  }
  const imagesPerSecond = await measureScaling(4 * PLANS[0].steps);
  if (!quick) {
    log('\nwasm / cpu');
    for (const arch of ['compact', 'seed'] as const) {
      const [w, c] = (['wasm', 'cpu'] as const).map((b) => results.find((r) => r.arch === arch && r.backend === b)!);
      log(`${arch.padEnd(8)} train ×${(w.train / c.train).toFixed(0)}, infer ×${(w.infer / c.infer).toFixed(1)}`);
    }
    const wide = results.find((r) => r.arch === 'wide')!;
    log('');
    for (const other of ['wide8', 'wide64', 'deep'] as const) {
      const r = results.find((x) => x.arch === other)!;
      log(
        `${other} / wide on wasm: train ×${(wide.train / r.train).toFixed(2)}, infer ×${(wide.infer / r.infer).toFixed(2)} the time`,
      );
    }
  }
  const profile = await profileCompactStep();
  if (json) {
    const report: Record<string, unknown> = { cores: availableParallelism(), microBatch: MICRO_BATCH, profile };
    for (const r of results) {
      const byArch = (report[r.arch] ??= {}) as Record<string, unknown>;
      byArch[r.backend] = {
        batch: r.batch,
        trainImagesPerSecond: r.train,
        inferImagesPerSecond: r.infer,
        ...(r.arch === 'compact' && r.backend === 'wasm'
          ? {
              imagesPerSecond: imagesPerSecond.current,
              ...(compactBaseline && {
                baseline: {
                  trainImagesPerSecond: compactBaseline.train,
                  imagesPerSecond: imagesPerSecond.baseline,
                },
              }),
            }
          : {}),
      };
    }
    console.log(JSON.stringify(report, null, 2));
  }
}

if (process.argv.includes('--help')) {
  console.log('npm run bench:train [-- --json] [--baseline] [--quick]: training/inference images/s for');
  console.log("compact and seed on wasm and cpu, compact's training images/s on wasm with 1, 2, … threads up to");
  console.log('the core count (imagesPerSecond in the JSON, keyed by thread count), then a per-kernel profile of');
  console.log('one compact training step. --json prints one JSON object and nothing else. --baseline also times');
  console.log('compact on wasm with the kernels that grad-kernels.ts replaced (baseline-kernels.ts), alternating');
  console.log('with the current ones, and reports the ratio (compact.wasm.baseline in the JSON). Runs for a few');
  console.log('minutes; --quick measures compact on wasm with one step each, in seconds (a check that the command');
  console.log('works, not a benchmark).');
} else {
  await main();
}
