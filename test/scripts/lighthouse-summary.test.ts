import { describe, expect, it } from 'vitest';
import {
  summariseLighthouse,
  type LighthouseAudit,
  type LighthouseResultLike,
} from '../../scripts/lib/lighthouse-summary';

const audit = (score: number | null, extra: Partial<LighthouseAudit> = {}): LighthouseAudit => ({
  title: 'an audit',
  score,
  ...extra,
});

function result(): LighthouseResultLike {
  return {
    lighthouseVersion: '12.8.2',
    configSettings: { throttlingMethod: 'simulate', formFactor: 'mobile', throttling: { cpuSlowdownMultiplier: 4 } },
    environment: { benchmarkIndex: 1500 },
    runWarnings: ['slow machine'],
    categories: {
      performance: {
        score: 0.85,
        auditRefs: [
          { id: 'largest-contentful-paint', weight: 25 },
          { id: 'total-blocking-time', weight: 30 },
          { id: 'long-tasks', weight: 0 },
          { id: 'unused-javascript', weight: 0 },
          { id: 'mainthread-work-breakdown', weight: 0 },
        ],
      },
      accessibility: { score: 1, auditRefs: [{ id: 'color-contrast', weight: 7 }] },
      seo: { score: null, auditRefs: [] },
    },
    audits: {
      'first-contentful-paint': audit(0.95, { numericValue: 900 }),
      'largest-contentful-paint': audit(0.7, { numericValue: 3100, displayValue: '3.1 s' }),
      'total-blocking-time': audit(0.8, { numericValue: 420 }),
      interactive: audit(0.9, { numericValue: 4000 }),
      'cumulative-layout-shift': audit(1, { numericValue: 0 }),
      'mainthread-work-breakdown': audit(0.5, { numericValue: 2500.5 }),
      'unused-javascript': audit(0.3),
      'color-contrast': audit(null),
      'long-tasks': audit(null, {
        details: {
          type: 'table',
          items: [
            { url: 'a.js', startTime: 10, duration: 60 },
            { url: 'b.js', startTime: 20, duration: 300 },
            { url: 'c.js', startTime: 30, duration: 120 },
            { startTime: 40, duration: 90 },
            { url: 'd.js', startTime: 50, duration: 70 },
            { url: 'e.js', startTime: 60, duration: 51 },
          ],
        },
      }),
    },
  };
}

describe('summariseLighthouse', () => {
  it('takes the scores, metrics and main-thread work, with null for what the result lacks', () => {
    const s = summariseLighthouse(result());
    expect(s).toMatchObject({
      lighthouseVersion: '12.8.2',
      throttlingMethod: 'simulate',
      formFactor: 'mobile',
      cpuSlowdown: 4,
      benchmarkIndex: 1500,
      scores: { performance: 0.85, accessibility: 1, 'best-practices': null, seo: null },
      metrics: {
        firstContentfulPaintMs: 900,
        largestContentfulPaintMs: 3100,
        totalBlockingTimeMs: 420,
        timeToInteractiveMs: 4000,
        speedIndexMs: null,
        cumulativeLayoutShift: 0,
      },
      mainThreadWorkMs: 2500.5,
      warnings: ['slow machine'],
    });
  });

  it('counts the long tasks and keeps the five longest', () => {
    const { longTasks } = summariseLighthouse(result());
    expect(longTasks.count).toBe(6);
    expect(longTasks.longest.map((t) => t.durationMs)).toEqual([300, 120, 90, 70, 60]);
    expect(longTasks.longest[0]).toEqual({ url: 'b.js', startMs: 20, durationMs: 300 });
    expect(longTasks.longest[2].url).toBe('');
  });

  it('lists the audits under 0.9, weighted ones first, and skips unscored ones', () => {
    const { belowPar } = summariseLighthouse(result());
    expect(belowPar.map((b) => [b.id, b.weight, b.score])).toEqual([
      ['total-blocking-time', 30, 0.8],
      ['largest-contentful-paint', 25, 0.7],
      ['unused-javascript', 0, 0.3],
      ['mainthread-work-breakdown', 0, 0.5],
    ]);
    expect(belowPar[1]).toMatchObject({ category: 'performance', displayValue: '3.1 s' });
  });

  it('has no long tasks when the audit has no table', () => {
    const lhr = result();
    lhr.audits['long-tasks'] = audit(null);
    expect(summariseLighthouse(lhr).longTasks).toEqual({ count: 0, longest: [] });
  });
});
