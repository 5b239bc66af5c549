import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { plotHistory, type EpochRecord } from '../../training/lib/plot';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Five epochs of a plausible run: train loss falls steadily, validation flattens and starts to overfit. */
const HISTORY: EpochRecord[] = [
  { epoch: 1, loss: 0.62, accuracy: 0.66, valLoss: 0.55, valAccuracy: 0.72, seconds: 41 },
  { epoch: 2, loss: 0.48, accuracy: 0.77, valLoss: 0.44, valAccuracy: 0.8, seconds: 40 },
  { epoch: 3, loss: 0.39, accuracy: 0.83, valLoss: 0.4, valAccuracy: 0.83, seconds: 40 },
  { epoch: 4, loss: 0.33, accuracy: 0.86, valLoss: 0.39, valAccuracy: 0.84, seconds: 42 },
  { epoch: 5, loss: 0.28, accuracy: 0.89, valLoss: 0.41, valAccuracy: 0.84, seconds: 41 },
];

describe('plotHistory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'facesense-plot-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes an SVG with both charts, axis titles and a legend, and a PNG of it', async () => {
    const { svg, png } = await plotHistory(HISTORY, join(dir, 'nested', 'curves.svg'));
    expect(svg).toBe(join(dir, 'nested', 'curves.svg'));
    expect(png).toBe(join(dir, 'nested', 'curves.png'));
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    for (const label of ['Training history', 'Accuracy', 'Loss', 'Epoch', 'train', 'validation']) {
      expect(text).toContain(`>${label}<`);
    }
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(700);
    expect(statSync(png).size).toBeGreaterThan(5000);
  });

  it('draws the worst group of --balance beside validation when the history has it, and no such line otherwise', async () => {
    const balanced = HISTORY.map((r, i) => ({
      ...r,
      valWorstGroup: { folder: 'diverse', group: 'Black', accuracy: 0.6 + 0.05 * i },
    }));
    const { svg } = await plotHistory(balanced, join(dir, 'worst.svg'));
    expect(readFileSync(svg, 'utf8')).toContain('>validation, worst group<');
    const plain = await plotHistory(HISTORY, join(dir, 'plain.svg'));
    expect(readFileSync(plain.svg, 'utf8')).not.toContain('worst group');
  });

  it('skips values that are not finite instead of failing', async () => {
    const { svg } = await plotHistory([{ ...HISTORY[0], loss: NaN }, HISTORY[1]], join(dir, 'partial.svg'));
    expect(readFileSync(svg, 'utf8')).toContain('>Loss<');
  });

  it('leaves a copy to look at in test-results/', async () => {
    const { png } = await plotHistory(HISTORY, join(REPO_ROOT, 'test-results', 'training-curves.svg'));
    expect(statSync(png).size).toBeGreaterThan(0);
  });
});
