/**
 * Training and inference throughput of both architectures on wasm and cpu, measured in one run on random 64×64 data,
 * then a per-kernel profile of one `compact` training step on wasm. `npm run bench:train`; a few minutes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { buildModel, type Arch } from '../lib/model/models';
import { AUGMENT_PRESETS, mulberry32 } from '../../src/core/augment';
import { sampleBatchAugmentation } from '../lib/fit/augment';
import { createDataParallelStep } from '../lib/fit/data-parallel';
import { createTrainer } from '../lib/fit/trainer';

const SIZE = 64;

interface Plan {
  backend: 'wasm' | 'cpu';
  arch: Arch;
  batch: number;
  /** Untimed steps first: XNNPACK operator setup, Adam's moment variables, JIT. */
  warmup: number;
  steps: number;
}

// cpu trains ~100–1000× slower than wasm, so it gets the smallest batches and step counts that still mean something.
const PLANS: Plan[] = [
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
 * `compact` on wasm as `npm run train` runs it: each batch split between this thread and a worker thread, each
 * augmenting its half (robust augmentation, the heaviest preset) before its gradients.
 */
async function measureParallel(single: Result): Promise<void> {
  await tf.setBackend('wasm');
  const model = buildModel('compact', { inputSize: SIZE });
  const trainer = createTrainer(model);
  const parallel = await createDataParallelStep(model, trainer, {
    arch: 'compact',
    inputSize: SIZE,
    classWeights: { female: 1, male: 1 },
  });
  const { x, y } = randomBatch(single.batch);
  const rng = mulberry32(1);
  const step = () => parallel.step(x, y, sampleBatchAugmentation(single.batch, rng, AUGMENT_PRESETS.robust));
  for (let i = 0; i < single.warmup; i++) await step();
  const steps = 4 * single.steps;
  const start = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const train = perSecond(single.batch * steps, performance.now() - start);
  console.log(
    `wasm  compact  batch ${String(single.batch).padStart(3)}, 2 threads, augmented: train ${train.toFixed(2).padStart(7)} ` +
      `img/s, ×${(train / single.train).toFixed(2)} one thread without augmentation`,
  );
  await parallel.close();
  tf.dispose([x, y]);
  trainer.optimizer.dispose();
  model.dispose();
}

async function profileCompactStep(): Promise<void> {
  await tf.setBackend('wasm');
  const model = buildModel('compact', { inputSize: SIZE });
  const trainer = createTrainer(model);
  const { x, y } = randomBatch(64);
  trainer.step(x, y);
  trainer.step(x, y);
  const start = performance.now();
  const info = await tf.profile(() => {
    trainer.step(x, y);
  });
  const wall = performance.now() - start;
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
  console.log(
    `\nProfile of one compact training step on wasm (batch 64): ${wall.toFixed(0)} ms wall under tf.profile,`,
  );
  console.log(
    `${total.toFixed(0)} ms in ${info.kernels.length} kernel calls; the rest is JS (engine, tape, optimizer).`,
  );
  console.log(`${'kernel'.padEnd(38)}${'ms'.padStart(8)}${'%'.padStart(7)}${'calls'.padStart(7)}`);
  for (const [name, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    if (e.ms < total * 0.005) continue;
    console.log(
      `${name.padEnd(38)}${e.ms.toFixed(1).padStart(8)}${((100 * e.ms) / total).toFixed(1).padStart(7)}${String(e.calls).padStart(7)}`,
    );
  }
  tf.dispose([x, y]);
  trainer.optimizer.dispose();
  model.dispose();
}

async function main(): Promise<void> {
  if ((await initTrainingBackend('wasm')) !== 'wasm') throw new Error('wasm backend unavailable');
  const results: Result[] = [];
  for (const plan of PLANS) {
    await tf.setBackend(plan.backend);
    const r = measure(plan);
    results.push(r);
    console.log(
      `${r.backend.padEnd(5)} ${r.arch.padEnd(8)} batch ${String(r.batch).padStart(3)}: ` +
        `train ${r.train.toFixed(2).padStart(7)} img/s, infer ${r.infer.toFixed(1).padStart(6)} img/s, ` +
        `train/infer ${(r.train / r.infer).toFixed(3)}`,
    );
  }
  await measureParallel(results.find((r) => r.backend === 'wasm' && r.arch === 'compact')!);
  console.log('\nwasm / cpu');
  for (const arch of ['compact', 'seed'] as const) {
    const [w, c] = (['wasm', 'cpu'] as const).map((b) => results.find((r) => r.arch === arch && r.backend === b)!);
    console.log(`${arch.padEnd(8)} train ×${(w.train / c.train).toFixed(0)}, infer ×${(w.infer / c.infer).toFixed(1)}`);
  }
  await profileCompactStep();
}

if (process.argv.includes('--help')) {
  console.log('npm run bench:train: training/inference images/s for compact and seed on wasm and cpu (and compact');
  console.log('on wasm with a second thread, as training runs), then a wasm');
  console.log('per-kernel profile of one compact training step. Takes no options; runs for a few minutes.');
} else {
  await main();
}
