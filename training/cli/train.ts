import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AUGMENT_PRESETS, mulberry32 } from '../../src/core/augment';
import { cropSettingsKey } from '../../src/core/crop';
import { groupRecords, worstGroupOfFolders } from '../../src/core/groups';
import { accuracy, balancedAccuracy, confusion, logLoss } from '../../src/core/metrics';
import { sampleBatchAugmentation } from '../lib/fit/augment';
import {
  batchRecord,
  epochDir,
  hasCheckpoint,
  loadCheckpoint,
  readState,
  saveCheckpoint,
  trainingRecord,
  type NamedTensor,
  type TrainState,
} from '../lib/fit/checkpoint';
import {
  assertBlazeFaceInstalled,
  EXIT,
  fail,
  openDataset,
  prepareDatasets,
  progressBar,
  readModelDir,
  scoreSplits,
  summarisePrepare,
} from './common';
import { exportModel, runCrop, weightsBytes } from '../lib/model/exporter';
import { loadModelFiles, recoverDir, replaceDirAtomically, saveModelFiles } from '../lib/model/model-files';
import { modelFromExport } from '../lib/model/from-export';
import { buildModel, countParams, STARTS_FROM, withAuxHeads, type Arch } from '../lib/model/models';
import { REPO_ROOT } from '../lib/node-io';
import type { EpochRecord } from '../lib/plot';
import { plotHistory } from '../lib/plot';
import { batchTensors, concatSplits, predictSplit, shuffled, sourceData, subset } from '../lib/data/splits';
import {
  batchCounts,
  describeBatch,
  epochCounts,
  groupDroWeights,
  mixedBatch,
  strataOf,
  type Stratum,
} from '../lib/data/mix';
import { auxClasses, auxRows, groupsOf, labelGroups } from '../lib/data/labels';
import { sourceName } from '../lib/data/sources';
import { createDataParallelStep } from '../lib/fit/data-parallel';
import { atRoundedKernels, kernelRounder } from '../lib/fit/quantized';
import { cachedTeacherProbs, distilledTargets, teacherEnsemble } from '../lib/fit/distill';
import { createTrainer } from '../lib/fit/trainer';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { parseTrainOptions, readTeacherProbs } from './train-options';
import { learningRate, resolveMix, stageAt, stagesOf, totalEpochs, withTotal } from '../lib/fit/recipe';

const opts = parseTrainOptions();
const runDir = join(REPO_ROOT, 'training', 'runs', opts.run);
const checkpointDir = join(runDir, 'checkpoint');
const bestDir = join(runDir, 'best');
// A run killed while it swapped in a checkpoint must still be resumable.
recoverDir(checkpointDir);
if (hasCheckpoint(checkpointDir) && !opts.resume) {
  fail(
    `${checkpointDir} holds a checkpoint of an earlier run: pass --resume to continue it, or --run <name> to start ` +
      'a new run beside it.',
    EXIT.usage,
  );
}
if (opts.resume && !hasCheckpoint(checkpointDir)) fail(`--resume: no checkpoint in ${checkpointDir}`, EXIT.usage);
if (opts.resume && opts.from)
  fail('--resume continues this run; --from starts a new one: pass one of them', EXIT.usage);
const { fromModel, fromCheckpoint: fromDir } = opts;
let fromArch: Arch = opts.arch;
const fromMetadata = fromModel ? readModelDir(fromModel) : null;
if (fromMetadata) {
  const { arch, crop } = fromMetadata;
  if (arch !== opts.arch && STARTS_FROM[opts.arch]?.arch !== arch) {
    const can = [opts.arch, STARTS_FROM[opts.arch]?.arch].filter(Boolean).join(' or ');
    fail(`--from ${opts.from}: that model is ${arch}; --arch ${opts.arch} starts from ${can}`, EXIT.usage);
  }
  fromArch = arch as Arch;
  if (crop.scale !== opts.cropScale)
    fail(`--from ${opts.from}: that model was trained on crops at ${crop.scale}×: pass --crop-scale ${crop.scale}`);
} else if (opts.from) {
  if (!hasCheckpoint(fromDir)) fail(`--from ${opts.from}: no checkpoint in ${fromDir}`, EXIT.usage);
  const runArch = readState(fromDir).options.arch;
  if (runArch !== opts.arch) fail(`--from ${opts.from}: that run trained ${runArch}, not ${opts.arch}`, EXIT.usage);
}
if (opts.resume) {
  // A resume keeps the run's options (its data too), except how many threads to use and, when given, a new total
  // of epochs or micro-batch size (runs from before micro-batches were the unit of a thread's work recorded 64).
  const saved = readState(checkpointDir).options;
  // Runs from before several teachers recorded their one teacher's folder and version beside the blend's weight.
  const legacy = saved.distill as { teacher?: string; version: string; weight: number } | undefined;
  let stages = stagesOf(saved);
  if (opts.epochs !== undefined) {
    try {
      stages = withTotal(stages, opts.epochs);
    } catch (e) {
      fail(`--epochs ${opts.epochs}: ${(e as Error).message}`, EXIT.usage);
    }
  }
  Object.assign(opts, saved, {
    resume: true,
    workers: opts.workers,
    stages,
    // Mixes were resolved for the run's folders when it started.
    mixGiven: false,
    ...(legacy?.teacher && {
      distill: { teachers: [{ dir: legacy.teacher, version: legacy.version }], weight: legacy.weight },
    }),
    ...(opts.microBatchGiven ? { microBatch: opts.microBatch } : {}),
  });
}
const epochs = totalEpochs(opts.stages);

assertBlazeFaceInstalled();
// A run resumed from before several folders recorded one.
const datasets = [opts.data].flat().map((dir) => openDataset(dir));
for (const dataset of datasets) {
  if (dataset.layout === 'kaggle' && dataset.missingSplits.includes('Train')) {
    fail(`${dataset.root} has no Train/ folder: expected Train/{Male,Female}/*.jpg (Validation/ and Test/ optional)`);
  }
}
const names = datasets.map((d) => sourceName(d.root));
if (new Set(names).size < names.length)
  fail(`two --data folders have the same name (${names.join(', ')}): give each folder its own name`, EXIT.usage);
const backend = await initTrainingBackend(opts.backend);
const crop = runCrop(opts);
const size = crop.size;
const prepared = await prepareDatasets(datasets, crop, opts.workers);
const sources = datasets.map((dataset, i) => {
  console.log(summarisePrepare(dataset, prepared.results[i], prepared.cache.dir));
  return sourceData(names[i], dataset, prepared.results[i], prepared.cache, size);
});
prepared.cache.close();
for (const source of sources) {
  if (source.heldOut)
    console.log(`${source.name}: no Validation split, ${source.validation.n} of its crops are held out to validate on`);
  const males = source.train.y.reduce((s, v) => s + v, 0);
  if (source.validation.n === 0 || males === 0 || males === source.train.n)
    fail(`too few usable face crops in ${source.dataset.root}: need faces of both Male/ and Female/`);
}
const train = concatSplits(
  sources.map((s) => s.train),
  size,
);
/**
 * `--teacher-probs`'s file, read again (a resumed run's too: it must be the file the run started with), and where
 * its folder's crops are among the Train crops.
 */
function listedTeacher({ file, source, sha256 }: NonNullable<NonNullable<typeof opts.distill>['probs']>) {
  const teacher = readTeacherProbs(file);
  if (teacher.sha256 !== sha256)
    fail(
      `--teacher-probs ${file}: the file has changed since this run started from it (sha256 ${sha256.slice(0, 12)}…)`,
    );
  const k = names.indexOf(source);
  if (k < 0)
    fail(
      `--teacher-probs ${file}: it is for the crops of "${source}", not one of this run's folders (${names.join(', ')})`,
    );
  const offset = sources.slice(0, k).reduce((n, s) => n + s.train.n, 0);
  return { teacher, names: sources[k].train.names, offset };
}
if (opts.distill) {
  const { teachers, weight } = opts.distill;
  for (const { dir, version } of teachers) {
    const { crop: taught, version: found } = readModelDir(resolve(dir));
    if (found !== version)
      fail(`--teacher ${dir}: this run distils from version ${version}, but the model there is now ${found}`);
    if (cropSettingsKey(taught) !== cropSettingsKey(crop))
      fail(
        `--teacher ${dir}: that model sees crops at ${taught.scale}× of ${taught.size} px; this run cuts ${crop.scale}× of ${crop.size} px`,
      );
  }
  const listed = opts.distill.probs && listedTeacher(opts.distill.probs);
  mkdirSync(runDir, { recursive: true });
  const versions = [...teachers.map((t) => t.version), ...(listed ? [listed.teacher.sha256] : [])].join(' + ');
  const probs = await cachedTeacherProbs(join(runDir, 'teacher-probs.json'), versions, train.names, async () => {
    const each: Float32Array[] = [];
    for (const { dir } of teachers) each.push(...(await scoreSplits(resolve(dir), [train])));
    try {
      return teacherEnsemble(each, listed);
    } catch (e) {
      fail(`--teacher-probs ${opts.distill!.probs!.file}: ${(e as Error).message}`);
    }
  });
  train.target = distilledTargets(train.y, probs, weight);
  const agree = probs.reduce((n, p, i) => n + (p > 0.5 === (train.y[i] === 1) ? 1 : 0), 0);
  const taughtBy = [
    ...teachers.map((t) => t.dir),
    ...(listed ? [`${opts.distill.probs!.file} for ${listed.teacher.source}`] : []),
  ];
  const [from, agrees] =
    taughtBy.length === 1
      ? [taughtBy[0], 'it agrees']
      : [`${taughtBy.length} teachers (${taughtBy.join(', ')})`, 'their mean agrees'];
  console.log(
    `distilling from ${from} (weight ${weight}): ${agrees} with ${((100 * agree) / train.n).toFixed(1)} % of the Train labels`,
  );
}
const count = (split: 'validation' | 'test') => sources.reduce((n, s) => n + s[split].n, 0);
const males = train.y.reduce((s, v) => s + v, 0);

// Every batch takes a fixed number of each folder's female and male faces, so the loss needs no class weights.
if (opts.mixGiven) {
  const mix = opts.stages[0].mix;
  const unknown = Object.keys(mix).filter((name) => !names.includes(name));
  const unweighted = names.filter((name) => !(name in mix));
  if (unknown.length > 0 || unweighted.length > 0)
    fail(
      `--mix must give a weight to each folder (${names.join(', ')}), got "${Object.keys(mix).join(', ')}"`,
      EXIT.usage,
    );
}
// Kept with the run's options, so that --resume and export use the mixes it resolved to.
opts.stages = opts.stages.map((stage) => ({ ...stage, mix: resolveMix(stage, names) }));
const strata = strataOf(
  sources.map((source) => {
    const groupOf = opts.balance ? labelGroups(source.dataset.root, opts.balance, source.train.names) : null;
    if (opts.balance && !groupOf)
      console.log(`${source.name}: no "${opts.balance}" column in a labels.csv: its batches are not balanced by it`);
    return { name: source.name, y: source.train.y, groupOf };
  }),
);
// The folders' Train crops were copied into `train`: drop the originals. With one folder, `train` is that split.
if (sources.length > 1) for (const source of sources) source.train.x = new Uint8Array(0);
/** A stratum's (folder, class) share of a batch in stage `index`. */
const shareIn = (index: number) => (s: Stratum) =>
  opts.stages[index].mix[s.source] * (s.label === 0 ? opts.femaleShare : 1 - opts.femaleShare);
const baseWeights = strata.map((s) => s.weight ?? 1);
const stageCounts = opts.stages.map((_, index) => batchCounts(strata, shareIn(index), baseWeights, opts.batch));
/** Under group DRO, each stratum's images in each batch of an epoch of stage `index`, given the epoch's weights. */
const droSchedule = (index: number, weights: readonly number[]) =>
  epochCounts(strata, shareIn(index), weights, opts.batch, stepsPerEpoch);
/** `taken` plus the images of each stratum that `rows` of counts take. */
const plus = (taken: readonly number[], rows: readonly (readonly number[])[]) =>
  rows.reduce<number[]>((sum, row) => sum.map((t, k) => t + row[k]), [...taken]);
const describeStage = (index: number) => {
  const stage = opts.stages[index];
  return (
    `stage ${index + 1}/${opts.stages.length}: ${stage.epochs} epoch${stage.epochs === 1 ? '' : 's'}, lr ${stage.lr} ` +
    `${stage.lrSchedule}, ${stage.augment} augmentation, batch ${opts.batch}: ${describeBatch(strata, stageCounts[index])}`
  );
};
/** Train crops whose convolution outputs give an exported model's BatchNorm layers their statistics back. */
const UNFOLD_SAMPLE = 512;
const modelOptions = { inputSize: size, seed: opts.seed, bnMomentum: opts.bnMomentum };

let state: TrainState;
let model;
let restoredOptimizer: NamedTensor[] | undefined;
if (opts.resume) {
  const ckpt = await loadCheckpoint(checkpointDir);
  ({ model, state } = ckpt);
  restoredOptimizer = ckpt.optimizerWeights;
  state.options = { ...opts };
  console.log(`resuming ${runDir} at epoch ${state.epoch + 1}${state.step ? `, batch ${state.step + 1}` : ''}`);
} else {
  let fromTraining = fromMetadata?.training;
  if (fromModel) {
    const every = Math.max(1, Math.floor(train.n / UNFOLD_SAMPLE));
    const sample = batchTensors(
      train,
      Array.from({ length: Math.min(UNFOLD_SAMPLE, train.n) }, (_, k) => k * every),
    );
    model = await modelFromExport(fromModel, fromArch, opts.arch, sample.x, modelOptions);
    tf.dispose([sample.x, sample.y]);
    console.log(`starting from the exported model in ${fromModel}, BatchNorm unfolded on ${sample.y.size} Train crops`);
    if (fromArch !== opts.arch)
      console.log(
        {
          widen: `widened from ${fromArch} to ${opts.arch}: the same outputs, up to the copies' noise`,
          'as-is': `${fromArch}'s weights taken as they are by ${opts.arch}`,
          deepen: `deepened from ${fromArch} to ${opts.arch}: its added blocks start as identities, the same outputs`,
          dilate: `dilated from ${fromArch} to ${opts.arch}: its first filter's taps spread two apart, the same outputs`,
        }[STARTS_FROM[opts.arch]?.how ?? 'widen'],
      );
  } else if (opts.from) {
    const ckpt = await loadCheckpoint(fromDir);
    model = ckpt.model;
    restoredOptimizer = ckpt.optimizerWeights;
    fromTraining = trainingRecord(ckpt.state);
    console.log(`starting from ${fromDir}, after its epoch ${ckpt.state.epoch}`);
  } else {
    model = buildModel(opts.arch, modelOptions);
  }
  state = {
    epoch: 0,
    step: 0,
    history: [],
    bestEpoch: 0,
    bestValBalancedAccuracy: -1,
    seconds: 0,
    options: {
      ...opts,
      ...(fromMetadata ? { fromVersion: fromMetadata.version } : {}),
      ...(fromTraining ? { fromTraining } : {}),
    },
  };
  mkdirSync(runDir, { recursive: true });
}
/** With --aux, each Train crop's class for each head, and the training twin of the model that carries the heads. */
let aux: ReturnType<typeof auxClasses> | null = null;
if (opts.aux.length > 0) {
  try {
    aux = auxClasses(
      sources.map((s) => ({ root: s.dataset.root, names: s.train.names })),
      opts.aux,
      state.auxHeads,
    );
  } catch (e) {
    fail(`--aux: ${(e as Error).message}`, EXIT.usage);
  }
  const known = aux.heads.map((_, h) => aux!.classes.filter((c, i) => i % aux!.heads.length === h && c >= 0).length);
  console.log(
    `auxiliary heads (weight ${opts.auxWeight}): ${aux.heads
      .map((head, h) => `${head.column} (${head.groups.join(', ')}; known for ${known[h]} of ${train.n} Train crops)`)
      .join('; ')}`,
  );
}
const trainingModel = aux
  ? withAuxHeads(
      model,
      aux.heads.map(({ column, groups }) => {
        const saved = state.auxHeads?.find((head) => head.column === column);
        return {
          name: column,
          classes: groups.length,
          ...(saved && { kernel: Float32Array.from(saved.kernel), bias: Float32Array.from(saved.bias) }),
        };
      }),
      opts.seed,
    )
  : model;
const trainer = createTrainer(trainingModel, {
  lr: opts.stages[0].lr,
  labelSmoothing: opts.labelSmoothing,
  microBatch: opts.microBatch,
  auxWeight: opts.auxWeight,
});
if (restoredOptimizer) {
  await trainer.setOptimizerWeights(restoredOptimizer);
  tf.dispose(restoredOptimizer.map((w) => w.tensor));
}

const parallel = await createDataParallelStep(trainingModel, trainer, {
  threads: opts.workers,
  microBatch: opts.microBatch,
  sam: opts.sam,
  ...(opts.quantize === 'uint4' && { gradientAt: kernelRounder(trainingModel.trainableWeights) }),
});
const busy = parallel.busyThreads(opts.batch);
if (busy < opts.workers)
  console.warn(
    `note: a batch of ${opts.batch} is ${busy} micro-batch${busy === 1 ? '' : 'es'} of ${opts.microBatch}, so only ` +
      `${busy} of ${opts.workers} threads have work; --batch ${opts.microBatch * opts.workers} would use them all`,
  );
console.log(
  `${opts.arch}: ${countParams(model).toLocaleString('en')} parameters | backend ${backend} ×${opts.workers} | ` +
    `Train ${train.n} (${males} male), Validation ${count('validation')}, Test ${count('test')} | ${epochs} epochs in ` +
    `${opts.stages.length} stage${opts.stages.length === 1 ? '' : 's'}`,
);

let stopSignal: NodeJS.Signals | null = null;
let stopAt = 0;
/** One Ctrl-C arrives up to three times within a few milliseconds: from the terminal, npm and, when run by it, tsx. */
const REPEATED_SIGNAL_MS = 1000;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopSignal) {
    if (performance.now() - stopAt > REPEATED_SIGNAL_MS) process.exit(130);
    return;
  }
  stopSignal = signal;
  stopAt = performance.now();
  console.log(`\n${signal}: saving a checkpoint after this batch (press again to quit without saving)`);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const checkpoint = async () => {
  // The heads are not part of the saved model: their weights travel in the state, so a resume keeps them.
  if (aux)
    state.auxHeads = aux.heads.map(({ column, groups }) => {
      const [kernel, bias] = trainingModel.getLayer(`aux_${column}`).getWeights();
      return { column, groups, kernel: Array.from(kernel.dataSync()), bias: Array.from(bias.dataSync()) };
    });
  await saveCheckpoint(checkpointDir, model, await trainer.getOptimizerWeights(), state);
};

const stepsPerEpoch = opts.stepsPerEpoch ?? Math.ceil(train.n / opts.batch);
// A partial validation pass (--validation-steps) uses a fixed random sample of each folder: splits are sorted by class.
const validationSamples = sources.map(({ name, validation: v }) => {
  const n = opts.validationSteps ? Math.min(v.n, opts.validationSteps * opts.batch) : v.n;
  return { name, data: n < v.n ? subset(v, shuffled(v.n, mulberry32(opts.seed)).subarray(0, n)) : v };
});

/** With --balance, each validation crop's group of that column; null for a folder without it. */
const validationGroups = validationSamples.map(({ data }, k) =>
  opts.balance ? groupsOf(sources[k].dataset.root, opts.balance, data.names) : null,
);

/** Images of the sample each stratum's training loss is measured on, for --group-dro. */
const DRO_SAMPLE = 256;

/** Mean loss (inference mode, unaugmented) of each stratum on an evenly spaced sample of its Train crops. */
function strataLosses(): number[] {
  return strata.map(({ indices }) => {
    const every = Math.max(1, Math.floor(indices.length / DRO_SAMPLE));
    const sample = Array.from({ length: Math.min(DRO_SAMPLE, indices.length) }, (_, k) => indices[k * every]);
    const { x, y } = batchTensors(train, sample);
    const { loss } = trainer.evaluate(x, y);
    tf.dispose([x, y]);
    return loss;
  });
}

/**
 * Group DRO's weights for `epoch`, from the previous epoch's, and the images of each stratum the stage's earlier
 * epochs took (so its walk through each stratum goes on where it stopped, whatever the counts were).
 */
function groupDroFor(epoch: number, index: number, first: number): NonNullable<TrainState['groupDro']> {
  const prev = state.groupDro;
  const losses = strataLosses();
  const weights = groupDroWeights(strata, prev?.weights ?? baseWeights, losses, opts.groupDro);
  const taken = prev && epoch > first ? plus(prev.taken, droSchedule(index, prev.weights)) : strata.map(() => 0);
  const names = strata.map((s) => `${s.source} ${s.label === 0 ? 'female' : 'male'}${s.group ? ` ${s.group}` : ''}`);
  const perBatch = plus(
    strata.map(() => 0),
    droSchedule(index, weights),
  ).map((n) => n / stepsPerEpoch);
  console.log(
    `group DRO before epoch ${epoch + 1}, each group's loss: ${names.map((n, k) => `${n} ${losses[k].toFixed(3)}`).join(', ')}\n` +
      `  batch (mean of the epoch's): ${describeBatch(strata, perBatch)}`,
  );
  return { epoch, groups: names, weights, losses, taken };
}

const startEpoch = state.epoch;
for (let epoch = startEpoch; epoch < epochs; epoch++) {
  const { stage, index, first } = stageAt(opts.stages, epoch);
  if (epoch === first || epoch === startEpoch) console.log(describeStage(index));
  if (opts.groupDro > 0 && state.groupDro?.epoch !== epoch) state.groupDro = groupDroFor(epoch, index, first);
  const dro = opts.groupDro > 0 ? state.groupDro! : null;
  const schedule = dro ? droSchedule(index, dro.weights) : null;
  /** Under group DRO, the images of each stratum taken before this epoch's next batch. */
  const taken = dro ? plus(dro.taken, schedule!.slice(0, state.step)) : null;
  const bar = progressBar(`epoch ${epoch + 1}/${epochs}`, 'batches');
  const started = performance.now();
  let lossSum = 0;
  let auxLossSum = 0;
  let correct = 0;
  let seen = 0;
  const before = state.unfinished ?? { seconds: 0, lossSum: 0, correct: 0, seen: 0 };
  /** The epoch's batches so far, those before a stop included, `seconds` after this start. */
  const soFar = (seconds: number) => ({
    seconds: before.seconds + seconds,
    lossSum: before.lossSum + lossSum,
    correct: before.correct + correct,
    seen: before.seen + seen,
    ...(aux && { auxLossSum: (before.auxLossSum ?? 0) + auxLossSum }),
  });
  bar.start(stepsPerEpoch, state.step, { rate: '-', extra: '' });
  for (let step = state.step; step < stepsPerEpoch; step++) {
    // Each stage walks its folders afresh, as each of the shipped recipe's runs once did.
    const stageStep = (epoch - first) * stepsPerEpoch + step;
    const counts = schedule ? schedule[step] : stageCounts[index];
    const indices = mixedBatch(strata, counts, stageStep, opts.seed, taken ?? undefined);
    taken?.forEach((_, k) => (taken[k] += counts[k]));
    const { x, y } = batchTensors(train, indices);
    const rng = mulberry32((opts.seed * 7919 + epoch) * 100_003 + step);
    const augmentation = sampleBatchAugmentation(indices.length, rng, AUGMENT_PRESETS[stage.augment], opts.mixup);
    trainer.setLearningRate(learningRate(stage, stageStep, stage.epochs * stepsPerEpoch));
    const auxBatch =
      aux && tf.tensor2d(auxRows(aux.classes, aux.heads.length, indices), [indices.length, aux.heads.length], 'int32');
    const r = await parallel.step(x, y, augmentation, auxBatch ?? undefined);
    tf.dispose([x, y, ...(auxBatch ? [auxBatch] : [])]);
    // A single-thread step is synchronous: yield so the progress timer and signal handlers get to run.
    await new Promise((done) => setImmediate(done));
    lossSum += r.loss * indices.length;
    auxLossSum += r.auxLoss * indices.length;
    correct += r.correct;
    seen += indices.length;
    const imagesPerSecond = seen / ((performance.now() - started) / 1000);
    bar.update(step + 1, {
      rate: (imagesPerSecond / opts.batch).toFixed(2),
      extra:
        ` | loss ${(lossSum / seen).toFixed(4)} acc ${(correct / seen).toFixed(4)}` +
        `${aux ? ` aux ${(auxLossSum / seen).toFixed(3)}` : ''} | ${imagesPerSecond.toFixed(0)} img/s`,
    });
    if (stopSignal) {
      bar.stop();
      state.step = step + 1;
      const seconds = (performance.now() - started) / 1000;
      state.seconds += seconds;
      state.unfinished = soFar(seconds);
      await checkpoint();
      await parallel.close();
      console.log(`checkpoint saved in ${checkpointDir}; continue with: npm run train -- --resume --run ${opts.run}`);
      process.exit(130);
    }
  }
  bar.stop();
  const trained = soFar((performance.now() - started) / 1000);
  const bySource: Record<string, { accuracy: number; balancedAccuracy: number }> = {};
  const predictAll = async () => {
    const probs: Float32Array[] = [];
    for (const { data } of validationSamples)
      probs.push(await predictSplit((t) => model.predict(t) as tf.Tensor, data));
    return probs;
  };
  // A uint4 run is scored at the weights its export will hold.
  const allProbs = await (opts.quantize === 'uint4' ? atRoundedKernels(model, predictAll) : predictAll());
  validationSamples.forEach(({ name, data }, k) => {
    const c = confusion(allProbs[k], data.y);
    bySource[name] = { accuracy: accuracy(c), balancedAccuracy: balancedAccuracy(c) };
  });
  const probs = Float32Array.from(allProbs.flatMap((p) => Array.from(p)));
  const labels = Uint8Array.from(validationSamples.flatMap((v) => Array.from(v.data.y)));
  const c = confusion(probs, labels);
  const worstGroup = worstGroupOfFolders(
    Object.fromEntries(
      validationSamples.flatMap(({ name, data }, k) => {
        const groups = validationGroups[k];
        return groups ? [[name, groupRecords(groups, data.y, allProbs[k])]] : [];
      }),
    ),
  );
  const record: EpochRecord = {
    epoch: epoch + 1,
    loss: trained.seen > 0 ? trained.lossSum / trained.seen : NaN,
    accuracy: trained.seen > 0 ? trained.correct / trained.seen : NaN,
    valLoss: logLoss(probs, labels),
    valAccuracy: accuracy(c),
    valBalancedAccuracy: balancedAccuracy(c),
    valBySource: bySource,
    valWorstBalancedAccuracy: Math.min(...Object.values(bySource).map((v) => v.balancedAccuracy)),
    ...(worstGroup && { valWorstGroup: worstGroup }),
    ...(aux && trained.seen > 0 && { auxLoss: (trained.auxLossSum ?? 0) / trained.seen }),
    seconds: trained.seconds,
  };
  state.history.push(record);
  state.epoch = epoch + 1;
  state.step = 0;
  delete state.unfinished;
  state.seconds += (performance.now() - started) / 1000;
  // The epoch is picked by the balanced accuracy of its weakest folder: an average over folders, or plain accuracy
  // (CelebA's Validation is 30 % male), would hide an epoch that is worse on one kind of face or one class.
  const score = record.valWorstBalancedAccuracy ?? 0;
  const isBest = score > state.bestValBalancedAccuracy;
  if (isBest) {
    state.bestValBalancedAccuracy = score;
    state.bestEpoch = epoch + 1;
    await replaceDirAtomically(bestDir, async (tmp) => {
      await saveModelFiles(model, tmp);
    });
  }
  // Every epoch's weights are kept (about 1 MB each for compact) so that `npm run export -- --average` can
  // average the last epochs rather than bet on the single epoch that happened to score best on Validation.
  await replaceDirAtomically(epochDir(runDir, epoch + 1), async (tmp) => {
    await saveModelFiles(model, tmp);
  });
  await checkpoint();
  writeFileSync(join(runDir, 'history.json'), JSON.stringify(state.history, null, 1));
  await plotHistory(state.history, join(runDir, 'curves.svg'));
  console.log(
    `epoch ${epoch + 1}/${epochs}: loss ${record.loss.toFixed(4)} acc ${record.accuracy.toFixed(4)} | ` +
      `val_loss ${record.valLoss.toFixed(4)} val_acc ${record.valAccuracy.toFixed(4)} ` +
      `val_balanced ${(record.valBalancedAccuracy ?? 0).toFixed(4)} (${Object.entries(bySource)
        .map(([name, v]) => `${name} ${v.balancedAccuracy.toFixed(4)}`)
        .join(', ')})` +
      (worstGroup
        ? ` | worst ${opts.balance}: ${worstGroup.folder} ${worstGroup.group} ${worstGroup.accuracy.toFixed(4)}`
        : '') +
      ` | ${trained.seconds.toFixed(0)} s` +
      (isBest ? ' | best so far' : ''),
  );
}

await parallel.close();
model.dispose();
const best = await loadModelFiles(bestDir);
const metadata = await exportModel({
  model: best,
  arch: opts.arch,
  crop,
  out: opts.out,
  quantization: opts.quantize,
  sources,
  batch: batchRecord(state),
  training: trainingRecord(state),
});
best.dispose();
const pct = (x?: number) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)} %`);
const { validation: v, test: t, quantizationDelta } = metadata.metrics;
console.log(
  [
    `exported epoch ${state.bestEpoch} to ${opts.out} (${opts.quantize}, ${(weightsBytes(opts.out, metadata) / 1024).toFixed(0)} KiB of weights)`,
    `  Validation: accuracy ${pct(v?.accuracy)}, balanced ${pct(v?.balancedAccuracy)} (quantization changed accuracy by ${pct(quantizationDelta)})`,
    `  Test:       accuracy ${pct(t?.accuracy)}, balanced ${pct(t?.balancedAccuracy)}, AUC ${t?.auc?.toFixed(4) ?? 'n/a'}`,
    `  calibration (fitted on Validation): temperature ${metadata.temperature.toFixed(3)}, bias ${(metadata.bias ?? 0).toFixed(3)}, "uncertain" within ` +
      `${metadata.policy.uncertainBand} of ${metadata.policy.threshold}; Test ECE ${pct(t?.ece)}, ` +
      `labelled ${pct(t?.coverage)} of faces at ${pct(t?.confidentAccuracy)} accuracy`,
    `  curves: ${join(runDir, 'curves.svg')}, history: ${join(runDir, 'history.json')}`,
  ].join('\n'),
);
const skipped = datasets.reduce(
  (n, d, i) => n + d.skipped.length + prepared.results[i].noFace.length + prepared.results[i].unreadable.length,
  0,
);
process.exit(skipped > 0 ? EXIT.skipped : EXIT.ok);
