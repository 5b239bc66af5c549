import { describe, expect, it } from 'vitest';
import { FrameStats, quantile } from '../../src/core/stats';

describe('quantile', () => {
  it('uses nearest rank and does not reorder its input', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(quantile(xs, 0.5)).toBe(3);
    expect(quantile(xs, 0.9)).toBe(5);
    expect(quantile(xs, 0)).toBe(1);
    expect(xs).toEqual([5, 1, 4, 2, 3]);
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe('FrameStats', () => {
  it('summarises each stage over a bounded window', () => {
    const stats = new FrameStats(10);
    for (let i = 1; i <= 20; i++) stats.add({ detect: i, classify: 2 * i }, i * 50);
    expect(stats.summary('detect')).toEqual({ median: 15, p90: 19, samples: 10 });
    expect(stats.summary('classify').median).toBe(30);
    expect(stats.summary('missing').samples).toBe(0);
    expect(stats.stageNames()).toEqual(['detect', 'classify']);
  });

  it('derives frames per second from finish times', () => {
    const stats = new FrameStats();
    expect(stats.fps()).toBe(0);
    for (let i = 0; i < 11; i++) stats.add({}, i * 40);
    expect(stats.fps()).toBeCloseTo(25);
    stats.clear();
    expect(stats.fps()).toBe(0);
  });
});
