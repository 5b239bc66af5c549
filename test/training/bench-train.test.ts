import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');

describe('npm run bench:train -- --json', () => {
  it('reports compact images/s on wasm for every thread count up to the cores, with and without the baseline kernels, as JSON alone', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'training', 'cli', 'bench-train.ts'), '--json', '--quick', '--baseline'],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
    );
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    const cores = availableParallelism();
    expect(report.cores).toBe(cores);
    const threadCounts = Array.from({ length: cores }, (_, i) => String(i + 1));
    const { wasm } = report.compact;
    for (const scaling of [wasm.imagesPerSecond, wasm.baseline.imagesPerSecond]) {
      expect(Object.keys(scaling)).toEqual(threadCounts);
      for (const value of Object.values(scaling)) expect(value).toBeGreaterThan(0);
    }
    expect(wasm.trainImagesPerSecond).toBeGreaterThan(0);
    expect(wasm.baseline.trainImagesPerSecond).toBeGreaterThan(0);
    expect(report.profile.kernels.length).toBeGreaterThan(5);
    expect(report.profile.kernels[0]).toMatchObject({ kernel: expect.any(String), calls: expect.any(Number) });
  }, 300_000);
});
