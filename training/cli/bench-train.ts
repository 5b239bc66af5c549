/**
 * Training and inference throughput of both architectures on wasm and cpu, measured in one run on random 64×64 data,
 * `compact`'s training throughput with 1, 2, … threads up to the core count, then a per-kernel profile of one
 * `compact` training step on wasm. `npm run bench:train [-- --json]`; a few minutes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
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
      { backend: 'wasm', arch: 'seed', batch: 32, warmup: 1, steps: 2 },
      { backend: 'cpu', arch: 'compact', batch: 4, warmup: 0, steps: 1 },
      { backend: 'cpu', arch: 'seed', batch: 1, warmup: 0, steps: 1 },
    ];

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
async function measureScaling(steps: number): Promise<Record<string, number>> {
  await tf.setBackend('wasm');
  const cores = availableParallelism();
  const batch = MICRO_BATCH * cores;
  const { x, y } = randomBatch(batch);
  const imagesPerSecond: Record<string, number> = {};
  for (let threads = 1; threads <= cores; threads++) {
    const model = buildModel('compact', { inputSize: SIZE });
    const trainer = createTrainer(model, { microBatch: MICRO_BATCH });
    const parallel = await createDataParallelStep(model, trainer, {
      threads,
      microBatch: MICRO_BATCH,
      classWeights: { female: 1, male: 1 },
    });
    const rng = mulberry32(1);
    const step = () => parallel.step(x, y, sampleBatchAugmentation(batch, rng, AUGMENT_PRESETS.robust));
    for (let i = 0; i < 2; i++) await step();
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step();
    imagesPerSecond[threads] = perSecond(batch * steps, performance.now() - start);
    log(
      `wasm  compact  batch ${String(batch).padStart(3)}, ${threads} thread${threads > 1 ? 's' : ' '}, augmented: ` +
        `train ${imagesPerSecond[threads].toFixed(2).padStart(7)} img/s, ×${(imagesPerSecond[threads] / imagesPerSecond[1]).toFixed(2)} one thread`,
    );
    await parallel.close();
    trainer.optimizer.dispose();
    model.dispose();
  }
  tf.dispose([x, y]);
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
  for (const plan of PLANS) {
    await tf.setBackend(plan.backend);
    const r = measure(plan);
    results.push(r);
    log(
      `${r.backend.padEnd(5)} ${r.arch.padEnd(8)} batch ${String(r.batch).padStart(3)}: ` +
        `train ${r.train.toFixed(2).padStart(7)} img/s, infer ${r.infer.toFixed(1).padStart(6)} img/s, ` +
        `train/infer ${(r.train / r.infer).toFixed(3)}`,
    );
  }
  const imagesPerSecond = await measureScaling(4 * PLANS[0].steps);
  if (!quick) {
    log('\nwasm / cpu');
    for (const arch of ['compact', 'seed'] as const) {
      const [w, c] = (['wasm', 'cpu'] as const).map((b) => results.find((r) => r.arch === arch && r.backend === b)!);
      log(`${arch.padEnd(8)} train ×${(w.train / c.train).toFixed(0)}, infer ×${(w.infer / c.infer).toFixed(1)}`);
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
        ...(r.arch === 'compact' && r.backend === 'wasm' ? { imagesPerSecond } : {}),
      };
    }
    console.log(JSON.stringify(report, null, 2));
  }
}

if (process.argv.includes('--help')) {
  console.log('npm run bench:train [-- --json]: training/inference images/s for compact and seed on wasm and cpu,');
  console.log("compact's training images/s on wasm with 1, 2, … threads up to the core count (imagesPerSecond in");
  console.log('the JSON, keyed by thread count), then a per-kernel profile of one compact training step.');
  console.log('--json prints one JSON object and nothing else. Runs for a few minutes; --quick measures compact on');
  console.log('wasm with one step each, in seconds (a check that the command works, not a benchmark).');
} else {
  await main();
}
