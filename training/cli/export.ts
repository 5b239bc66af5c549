import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
} from './common';
import { exportModel, runCrop, weightsBytes } from '../lib/model/exporter';
import { loadModelFiles, type Quantization } from '../lib/model/model-files';
import { REPO_ROOT } from '../lib/node-io';
import { measuredEntries, sourceData } from '../lib/data/splits';
import { sourceName } from '../lib/data/sources';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

const HELP = `Usage: npm run export -- --run <name> [options]

Exports the best epoch of a training run (training/runs/<name>/best) as the web model, with its metadata:
quantized weights, temperature, bias and "uncertain" band fitted on Validation, metrics on Validation and Test.
'npm run train' does this at its end; use this to export a run that was stopped early, to re-quantize, or to
export the mean of several epochs' weights.

  --run <name>        run folder under training/runs (required)
  --data <dir>        a data folder the run was trained on, repeated for several (default: those recorded in
                      the run); Validation and Test are taken from them as training took them
  --out <dir>         destination (default public/models/gender); replaced atomically
  --quantize <q>      uint8, float16 or float32 (default: the run's choice)
  --average <a>-<b>   export the mean of the weights of epochs a to b (training/runs/<name>/epochs) instead of
                      the best epoch (weight averaging, free of the luck of one epoch)
  -h, --help          this text

Exit codes: 0 exported; 1 error (no run, dataset or usable face at that path); 2 bad arguments.`;

const { values } = parseCommandLine(HELP, {
  options: {
    run: { type: 'string' },
    data: { type: 'string', multiple: true },
    out: { type: 'string', default: DEFAULT_MODEL_DIR },
    quantize: { type: 'string' },
    average: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (!values.run) fail('--run <name> is required (see --help)', EXIT.usage);
const runDir = join(REPO_ROOT, 'training', 'runs', values.run);
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
const crop = runCrop(options);
const quantization = (values.quantize ?? options.quantize) as Quantization;
if (!['uint8', 'float16', 'float32'].includes(quantization))
  fail(`--quantize must be uint8, float16 or float32`, EXIT.usage);
const averaged = values.average === undefined ? undefined : epochRange(values.average);
if (averaged) {
  const missing = epochsOf(averaged).filter((e) => !existsSync(join(epochDir(runDir, e), 'model.json')));
  if (missing.length > 0) {
    fail(
      `${values.run} has no weights of epoch ${missing.join(', ')} in ${join(runDir, 'epochs')} (it trained ` +
        `${state.epoch} epochs; runs from before per-epoch weights were kept have none)`,
    );
  }
}

assertBlazeFaceInstalled();
// Runs from before several folders recorded one.
const datasets = (values.data ?? [options.data].flat()).map((dir) => openDataset(dir));
await initTrainingBackend();
// Only what Validation and Test are made of is cropped: an export measures, it does not train.
const { cache, results } = await prepareDatasets(
  datasets.map((d) => ({ ...d, entries: measuredEntries(d) })),
  crop,
);
const sources = datasets.map((d, i) => sourceData(sourceName(d.root), d, results[i], cache, crop.size));
cache.close();
const empty = sources.find((s) => s.validation.n === 0);
if (empty) fail(`no usable face crops in ${empty.dataset.root} to calibrate on (Validation/ or Train/)`);
const model = averaged
  ? await averageModels(epochsOf(averaged).map((e) => epochDir(runDir, e)))
  : await loadModelFiles(join(runDir, 'best'));
const out = resolve(values.out);
const metadata = await exportModel({
  model,
  arch: options.arch,
  crop,
  out,
  quantization,
  sources,
  batch: batchRecord(state),
  training: { ...trainingRecord(state), ...(averaged ? { averagedEpochs: averaged } : {}) },
});
const { validation: v, test: t } = metadata.metrics;
console.log(
  `exported ${averaged ? `the mean of epochs ${averaged.join('–')}` : `epoch ${state.bestEpoch}`} of ${values.run} to ${out} (${quantization}, ` +
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
