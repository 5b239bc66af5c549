import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelMetadata, ModelTraining, TrainingRecord } from '../../../src/core/metadata';
import type { EpochRecord } from '../plot';
import { stageAt, stagesOf, type Stage } from './recipe';
import { loadModelFiles, replaceDirAtomically, saveModelFiles } from '../model/model-files';

/** An optimizer variable and its value, as `Optimizer.getWeights` returns them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Where training stands: enough to continue exactly where it stopped. */
export interface TrainState {
  /** Epochs completed. */
  epoch: number;
  /** Batches of epoch `epoch` already done (non-zero only when stopped mid-epoch). */
  step: number;
  history: EpochRecord[];
  bestEpoch: number;
  /** Validation balanced accuracy of the best epoch so far, the one `best/` holds. */
  bestValBalancedAccuracy: number;
  /** Training seconds so far, over all sessions. */
  seconds: number;
  /** The options the run was started with; a resume keeps them. */
  options: Record<string, unknown>;
  /**
   * With --group-dro, the epoch being trained or last trained: for each stratum (named "<folder> <class> <group>"),
   * its weight within its folder's class, the loss that set it, and the images the stage's earlier epochs took.
   */
  groupDro?: { epoch: number; groups: string[]; weights: number[]; losses: number[]; taken: number[] };
  /**
   * Epoch `epoch`'s batches before a stop mid-epoch: their training seconds, summed loss (per image), right answers
   * and images, and with --aux the heads' summed loss, so that the resumed epoch's record counts all of its batches.
   */
  unfinished?: { seconds: number; lossSum: number; correct: number; seen: number; auxLossSum?: number };
  /** With --aux, each head's column, classes and weights (kernel row-major [features, classes]): not in the model. */
  auxHeads?: Array<{ column: string; groups: string[]; kernel: number[]; bias: number[] }>;
}

/**
 * Saves weights, optimizer state and progress as one folder, swapped in atomically: a kill at any moment leaves
 * the previous checkpoint or this one.
 */
export async function saveCheckpoint(
  dir: string,
  model: tfl.LayersModel,
  optimizerWeights: NamedTensor[],
  state: TrainState,
): Promise<void> {
  const encoded = await tf.io.encodeWeights(optimizerWeights);
  await replaceDirAtomically(dir, async (tmp) => {
    await saveModelFiles(model, tmp);
    writeFileSync(join(tmp, 'optimizer.bin'), new Uint8Array(tf.io.CompositeArrayBuffer.join(encoded.data)));
    writeFileSync(join(tmp, 'optimizer.json'), JSON.stringify(encoded.specs));
    writeFileSync(join(tmp, 'state.json'), JSON.stringify(state, null, 1));
  });
}

/** Where a run keeps the weights of epoch `epoch` (counted from 1). */
export function epochDir(runDir: string, epoch: number): string {
  return join(runDir, 'epochs', String(epoch).padStart(3, '0'));
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, 'state.json'));
}

export function readState(dir: string): TrainState {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as TrainState;
}

export async function loadCheckpoint(
  dir: string,
): Promise<{ model: tfl.LayersModel; optimizerWeights: NamedTensor[]; state: TrainState }> {
  const state = readState(dir);
  const model = await loadModelFiles(dir);
  const specs = JSON.parse(readFileSync(join(dir, 'optimizer.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
  const bin = readFileSync(join(dir, 'optimizer.bin'));
  const map = tf.io.decodeWeights(new Uint8Array(bin).buffer, specs);
  const optimizerWeights = specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
  return { model, optimizerWeights, state };
}

/** What metadata.json says about how a run trained, from its checkpoint state. */
export function trainingRecord(state: TrainState): TrainingRecord {
  const options = state.options as {
    batch: number;
    lr: number;
    seed: number;
    from?: string;
    fromVersion?: string;
    fromTraining?: ModelTraining;
    labelSmoothing?: number;
    mixup?: number;
    sam?: number;
    aux?: string[];
    auxWeight?: number;
    distill?: TrainingRecord['distill'];
    augment?: string;
    lrSchedule?: string;
    stages?: Stage[];
  };
  const recorded = {
    epochs: state.epoch,
    bestEpoch: state.bestEpoch,
    batch: options.batch,
    lr: options.lr,
    seed: options.seed,
    seconds: Math.round(state.seconds),
    ...(options.from ? { from: options.from } : {}),
    ...(options.fromVersion ? { fromVersion: options.fromVersion } : {}),
    ...(options.fromTraining ? { fromTraining: options.fromTraining } : {}),
    ...(options.labelSmoothing ? { labelSmoothing: options.labelSmoothing } : {}),
    ...(options.mixup ? { mixup: options.mixup } : {}),
    ...(options.sam ? { sam: options.sam } : {}),
    ...(options.aux?.length ? { aux: { columns: options.aux, weight: options.auxWeight! } } : {}),
    ...(options.distill ? { distill: options.distill } : {}),
  };
  if (!options.stages) {
    return {
      ...recorded,
      ...(options.augment ? { augment: options.augment } : {}),
      ...(options.lrSchedule ? { lrSchedule: options.lrSchedule } : {}),
    };
  }
  // The rate, schedule and augmentation that made the exported weights: those of the best epoch's stage.
  const { stage } = stageAt(options.stages, Math.max(0, state.bestEpoch - 1));
  return {
    ...recorded,
    lr: stage.lr,
    augment: stage.augment,
    lrSchedule: stage.lrSchedule,
    stages: options.stages,
  };
}

/** The batch mix that made the exported weights (the best epoch's stage); runs from before batches were mixed have none. */
export function batchRecord(state: TrainState): ModelMetadata['data']['batch'] {
  const options = state.options as {
    femaleShare?: number;
    mix?: Record<string, number>;
    balance?: string;
    groupDro?: number;
  };
  const { stage } = stageAt(stagesOf(state.options), Math.max(0, state.bestEpoch - 1));
  const mix = options.mix ?? (state.options.stages ? stage.mix : undefined);
  if (!mix || !options.femaleShare) return undefined;
  return {
    mix,
    femaleShare: options.femaleShare,
    ...(options.balance ? { balance: options.balance } : {}),
    ...(options.groupDro ? { groupDro: options.groupDro } : {}),
  };
}
