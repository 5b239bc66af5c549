import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { CropSettings } from '../../src/core/crop';
import type { ModelMetadata } from '../../src/core/metadata';
import { averageModels } from '../lib/model/average';
import { batchRecord, epochDir, trainingRecord, type TrainState } from '../lib/fit/checkpoint';
import {
  assertBlazeFaceInstalled,
  DEFAULT_MODEL_DIR,
  EXIT,
  fail,
  openDataset,
  parseCommandLine,
  prepareDatasets,
  readModelDir,
} from './common';
import { exportModel, runCrop, weightsBytes } from '../lib/model/exporter';
import { loadModelFiles, type Quantization } from '../lib/model/model-files';
import { REPO_ROOT } from '../lib/node-io';
import { measuredEntries, sourceData } from '../lib/data/splits';
import { sourceName } from '../lib/data/sources';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

const HELP = `Usage: npm run export -- --run <name> [options]
       npm run export -- --soup <model dir> --soup <model dir> [--soup …] [options]

Exports the best epoch of a training run (training/runs/<name>/best) as the web model, with its metadata:
quantized weights, temperature, bias and "uncertain" band fitted on Validation, metrics on Validation and Test.
'npm run train' does this at its end; use this to export a run that was stopped early, to re-quantize, or to
export the mean of several epochs' weights, or of several exported models' (a model soup).

  --run <name>        run folder under training/runs
  --soup <dir>        instead of --run, an exported model folder whose weights join the mean, given twice or more:
                      fine-tunes of one model (one architecture and crop) lie in one basin, where their mean is a
                      model of its own (a "model soup", Wortsman et al. 2022)
  --data <dir>        a data folder the model was trained on, repeated for several (default: those recorded in
                      the run, or in the first --soup model); Validation and Test are taken from them as training
                      took them
  --out <dir>         destination (default public/models/gender); replaced atomically
  --quantize <q>      uint8, float16, float32 or uint4 (default: the run's choice, or the first --soup model's)
  --average <a>-<b>   with --run, export the mean of the weights of epochs a to b (training/runs/<name>/epochs)
                      instead of the best epoch (weight averaging, free of the luck of one epoch)
  -h, --help          this text

Exit codes: 0 exported; 1 error (no run, dataset or usable face at that path); 2 bad arguments.`;

const { values } = parseCommandLine(HELP, {
  options: {
    run: { type: 'string' },
    soup: { type: 'string', multiple: true },
    data: { type: 'string', multiple: true },
    out: { type: 'string', default: DEFAULT_MODEL_DIR },
    quantize: { type: 'string' },
    average: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const soup = values.soup ?? [];
if (!values.run === (soup.length === 0))
  fail('pass --run <name>, or --soup <model dir> twice or more (see --help)', EXIT.usage);
if (soup.length === 1) fail('--soup takes two or more model folders: the mean of one is that model', EXIT.usage);
if (soup.length > 0 && values.average !== undefined)
  fail("--average takes a run's epochs: not with --soup", EXIT.usage);

/** What is exported: the model and what its metadata records of how it was made. */
interface Source {
  load: () => Promise<tfl.LayersModel>;
  arch: string;
  crop: CropSettings;
  quantization: Quantization;
  data: string[];
  batch: ModelMetadata['data']['batch'];
  training: ModelMetadata['training'];
  what: string;
}
const source = values.run ? fromRun(values.run) : fromSoup(soup);

const quantization = (values.quantize ?? source.quantization) as Quantization;
if (!['uint8', 'float16', 'float32', 'uint4'].includes(quantization))
  fail(`--quantize must be uint8, float16, float32 or uint4`, EXIT.usage);

assertBlazeFaceInstalled();
const datasets = (values.data ?? source.data).map((dir) => openDataset(dir));
await initTrainingBackend();
// Only what Validation and Test are made of is cropped: an export measures, it does not train.
const { cache, results } = await prepareDatasets(
  datasets.map((d) => ({ ...d, entries: measuredEntries(d) })),
  source.crop,
);
const sources = datasets.map((d, i) => sourceData(sourceName(d.root), d, results[i], cache, source.crop.size));
cache.close();
const empty = sources.find((s) => s.validation.n === 0);
if (empty) fail(`no usable face crops in ${empty.dataset.root} to calibrate on (Validation/ or Train/)`);
const out = resolve(values.out);
const metadata = await exportModel({
  model: await source.load(),
  arch: source.arch,
  crop: source.crop,
  out,
  quantization,
  sources,
  batch: source.batch,
  training: source.training,
});
const { validation: v, test: t } = metadata.metrics;
console.log(
  `exported ${source.what} to ${out} (${quantization}, ` +
    `${(weightsBytes(out, metadata) / 1024).toFixed(0)} KiB): Validation ${(100 * (v?.accuracy ?? 0)).toFixed(2)} %, ` +
    `Test ${(100 * (t?.accuracy ?? 0)).toFixed(2)} % (balanced ${(100 * (t?.balancedAccuracy ?? 0)).toFixed(2)} %)`,
);

function epochRange(text: string): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(text);
  const [first, last] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (first < 1 || last < first) fail(`--average takes two epochs, first-last (as 6-10), got "${text}"`, EXIT.usage);
  return [first, last];
}

function epochsOf([first, last]: [number, number]): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

function fromRun(run: string): Source {
  const runDir = join(REPO_ROOT, 'training', 'runs', run);
  let state: TrainState;
  try {
    state = JSON.parse(readFileSync(join(runDir, 'checkpoint', 'state.json'), 'utf8')) as TrainState;
  } catch {
    fail(`no training run in ${runDir} (expected checkpoint/state.json)`);
  }
  const options = state.options as {
    data: string | string[];
    arch: string;
    quantize: Quantization;
    cropScale?: number;
  };
  const averaged = values.average === undefined ? undefined : epochRange(values.average);
  if (averaged) {
    const missing = epochsOf(averaged).filter((e) => !existsSync(join(epochDir(runDir, e), 'model.json')));
    if (missing.length > 0) {
      fail(
        `${run} has no weights of epoch ${missing.join(', ')} in ${join(runDir, 'epochs')} (it trained ` +
          `${state.epoch} epochs; runs from before per-epoch weights were kept have none)`,
      );
    }
  }
  return {
    load: () =>
      averaged
        ? averageModels(epochsOf(averaged).map((e) => epochDir(runDir, e)))
        : loadModelFiles(join(runDir, 'best')),
    arch: options.arch,
    crop: runCrop(options),
    quantization: options.quantize,
    // Runs from before several folders recorded one.
    data: [options.data].flat(),
    batch: batchRecord(state),
    training: { ...trainingRecord(state), ...(averaged ? { averagedEpochs: averaged } : {}) },
    what: `${averaged ? `the mean of epochs ${averaged.join('–')}` : `epoch ${state.bestEpoch}`} of ${run}`,
  };
}

function fromSoup(dirs: string[]): Source {
  const models = dirs.map((dir) => ({ dir, metadata: readModelDir(dir) }));
  const [first] = models;
  const kind = ({ metadata: m }: (typeof models)[number]) => `${m.arch} on ${JSON.stringify(m.crop)} crops`;
  const other = models.find((m) => kind(m) !== kind(first));
  if (other)
    fail(
      `--soup ${other.dir}: that model is ${kind(other)}, ${first.dir} is ${kind(first)}: only models of one ` +
        'architecture and crop can be averaged',
      EXIT.usage,
    );
  return {
    load: () => averageModels(dirs),
    arch: first.metadata.arch,
    crop: first.metadata.crop,
    quantization: first.metadata.quantization,
    data: first.metadata.data.sources.map((s) => s.path),
    batch: undefined,
    training: { soup: models.map(({ dir, metadata: m }) => ({ dir, version: m.version, training: m.training })) },
    what: `the mean of ${dirs.length} models`,
  };
}
