import type { AUGMENT_PRESETS } from '../../../src/core/augment';
import { stratumCounts } from '../data/mix';

export type AugmentName = keyof typeof AUGMENT_PRESETS;
export type LrSchedule = 'cosine' | 'constant';

/** A stretch of a run with one learning-rate cycle, one augmentation and one batch mix. */
export interface Stage {
  epochs: number;
  /** Adam's rate at the stage's first batch; on 'cosine' it decays to 0 by the stage's end. */
  lr: number;
  lrSchedule: LrSchedule;
  augment: AugmentName;
  /** Each folder's share of every batch, by folder name; a folder it does not name weighs 1. */
  mix: Record<string, number>;
}

/**
 * The shipped model's recipe (docs/experiments.md §11, §12, §14 and §15), once four runs each started from the last
 * checkpoint of the one before: 18 epochs from scratch, then three warm restarts at half the rate, each with more
 * of `diverse` or harder augmentation. Adam's state carries over from stage to stage, as it did through `--from`.
 */
export const SHIPPED_RECIPE: readonly Stage[] = [
  { epochs: 18, lr: 0.001, lrSchedule: 'cosine', augment: 'robust', mix: { diverse: 1 } },
  { epochs: 10, lr: 0.0005, lrSchedule: 'cosine', augment: 'robust', mix: { diverse: 1.5 } },
  { epochs: 8, lr: 0.0005, lrSchedule: 'cosine', augment: 'far', mix: { diverse: 1.5 } },
  { epochs: 8, lr: 0.0005, lrSchedule: 'cosine', augment: 'far', mix: { diverse: 3 } },
];

/** `--recipe one`: a single cycle, as a fine-tune from another run (`--from`) wants; the augmentation shipped last. */
export const ONE_STAGE: Stage = { epochs: 30, lr: 0.001, lrSchedule: 'cosine', augment: 'far', mix: {} };

export const RECIPES = { shipped: SHIPPED_RECIPE, one: [ONE_STAGE] } as const;
export type RecipeName = keyof typeof RECIPES;

export function totalEpochs(stages: readonly Stage[]): number {
  return stages.reduce((n, s) => n + s.epochs, 0);
}

/**
 * The stages stretched or shrunk to `total` epochs in proportion (largest remainder, so they add up exactly). With
 * fewer epochs than stages, the stages that round to none are left out.
 */
export function scaleStages(stages: readonly Stage[], total: number): Stage[] {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`a run needs at least 1 epoch, got ${total}`);
  // Apportioned as a batch is among its strata.
  const epochs = stratumCounts(
    stages.map((s) => s.epochs),
    total,
  );
  return stages.map((s, i) => ({ ...s, epochs: epochs[i] })).filter((s) => s.epochs > 0);
}

/** A resumed run with a new total: the last stage takes what the stages before it leave. */
export function withTotal(stages: readonly Stage[], total: number): Stage[] {
  const before = totalEpochs(stages.slice(0, -1));
  if (total <= before)
    throw new RangeError(`the stages before the last take ${before} epochs: a new total must be more than that`);
  return stages.map((s, i) => (i === stages.length - 1 ? { ...s, epochs: total - before } : s));
}

/** The stage that epoch `epoch` (counted from 0) belongs to, and the epoch it starts at. */
export function stageAt(stages: readonly Stage[], epoch: number): { stage: Stage; index: number; first: number } {
  let first = 0;
  for (let index = 0; index < stages.length; index++) {
    if (epoch < first + stages[index].epochs) return { stage: stages[index], index, first };
    first += stages[index].epochs;
  }
  throw new RangeError(`epoch ${epoch + 1} is past the run's ${first} epochs`);
}

/** Adam's rate at batch `step` of the stage (counted over its epochs), of `steps` batches in all. */
export function learningRate(stage: Stage, step: number, steps: number): number {
  return stage.lrSchedule === 'cosine' ? (stage.lr * (1 + Math.cos((Math.PI * step) / steps))) / 2 : stage.lr;
}

/** The stage's share for each of these folders. */
export function resolveMix(stage: Stage, names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.map((name) => [name, stage.mix[name] ?? 1]));
}

/**
 * A run's stages from its saved options; runs from before stages were recorded had one, described by their
 * epochs, lr, lrSchedule, augment and mix (runs that predate --augment trained with `robust`).
 */
export function stagesOf(options: Record<string, unknown>): Stage[] {
  if (Array.isArray(options.stages)) return options.stages as Stage[];
  return [
    {
      epochs: options.epochs as number,
      lr: options.lr as number,
      lrSchedule: (options.lrSchedule as LrSchedule | undefined) ?? 'cosine',
      augment: (options.augment as AugmentName | undefined) ?? 'robust',
      mix: (options.mix as Record<string, number> | undefined) ?? {},
    },
  ];
}
