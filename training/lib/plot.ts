import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { FolderGroup } from '../../src/core/groups';

/** One epoch's summary, as train.ts records it. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  valBalancedAccuracy?: number;
  /** Each data folder's validation figures, by folder name. */
  valBySource?: Record<string, { accuracy: number; balancedAccuracy: number }>;
  /** The lowest of the folders' validation balanced accuracies: what picks the best epoch. */
  valWorstBalancedAccuracy?: number;
  /** With --balance, the validation group of that column with the lowest accuracy, over the folders that have it. */
  valWorstGroup?: FolderGroup;
  /** With --aux, the auxiliary heads' mean training loss (their softmax cross-entropies, before --aux-weight). */
  auxLoss?: number;
  /** Training time of the epoch. */
  seconds?: number;
  /** Learning rate in use during the epoch. */
  lr?: number;
}

interface Point {
  epoch: number;
  metric: 'Accuracy' | 'Loss';
  split: 'train' | 'validation' | 'validation, worst group';
  value: number;
}

function points(history: readonly EpochRecord[]): Point[] {
  return history
    .flatMap((r): Point[] => [
      { epoch: r.epoch, metric: 'Accuracy', split: 'train', value: r.accuracy },
      { epoch: r.epoch, metric: 'Accuracy', split: 'validation', value: r.valAccuracy },
      // Absent without --balance: NaN, which the filter below drops.
      { epoch: r.epoch, metric: 'Accuracy', split: 'validation, worst group', value: r.valWorstGroup?.accuracy ?? NaN },
      { epoch: r.epoch, metric: 'Loss', split: 'train', value: r.loss },
      { epoch: r.epoch, metric: 'Loss', split: 'validation', value: r.valLoss },
    ])
    .filter((p) => Number.isFinite(p.value));
}

/** The two side-by-side charts (accuracy, loss; train against validation) as a standalone SVG document. */
export async function historySvg(history: readonly EpochRecord[]): Promise<string> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Training history', subtitle: `${history.length} epoch${history.length === 1 ? '' : 's'}` },
    background: 'white',
    padding: 16,
    data: { values: points(history) },
    hconcat: (['Accuracy', 'Loss'] as const).map((metric) => ({
      title: metric,
      width: 360,
      height: 240,
      transform: [{ filter: { field: 'metric', equal: metric } }],
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'Epoch', axis: { tickMinStep: 1, format: 'd' } },
        // The curves move within a narrow band (accuracy 0.6–0.95, say); a zero-based axis would flatten them.
        y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
        color: { field: 'split', type: 'nominal', title: null },
      },
    })),
    config: { legend: { orient: 'bottom', labelLimit: 0 }, font: 'DejaVu Sans, sans-serif' },
  };
  return renderSvg(spec);
}

/** Renders a vega-lite chart to a standalone SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // The 'none' renderer lays out and draws to SVG text without a DOM or canvas.
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Writes the training curves to `outFile` as SVG and, next to it, the same picture as PNG (rasterised by sharp,
 * for viewers that show no SVG). Returns both paths.
 */
export async function plotHistory(
  history: readonly EpochRecord[],
  outFile: string,
): Promise<{ svg: string; png: string }> {
  const svg = await historySvg(history);
  const png = `${outFile.replace(/\.svg$/i, '')}.png`;
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, svg);
  await sharp(Buffer.from(svg), { density: 144 }).png().toFile(png);
  return { svg: outFile, png };
}
