/**
 * The figures `npm run bench:lighthouse` reports, taken from a Lighthouse result (LHR). Pure, so the tests can feed
 * it a hand-made result; the types name only the fields read, which Lighthouse's own `Result` type satisfies.
 */

export interface LighthouseAudit {
  title: string;
  score: number | null;
  numericValue?: number;
  displayValue?: string;
  details?: unknown;
}

export interface LighthouseResultLike {
  lighthouseVersion: string;
  configSettings: {
    throttlingMethod: string;
    formFactor: string;
    throttling: { cpuSlowdownMultiplier?: number };
  };
  environment: { benchmarkIndex: number };
  runWarnings: string[];
  categories: Record<string, { score: number | null; auditRefs: { id: string; weight: number }[] }>;
  audits: Record<string, LighthouseAudit>;
}

export interface LongTask {
  url: string;
  startMs: number;
  durationMs: number;
}

/** An audit of a category that scored under 0.9, so it costs that category points or shows in red and orange. */
export interface BelowPar {
  category: string;
  id: string;
  title: string;
  score: number;
  /** The audit's share of the category's score (0 for diagnostics that only point at a cause). */
  weight: number;
  displayValue?: string;
}

export interface LighthouseSummary {
  lighthouseVersion: string;
  throttlingMethod: string;
  formFactor: string;
  cpuSlowdown: number | null;
  /** Lighthouse's measure of the machine's speed (desktops score over 1000; below it the metrics run long). */
  benchmarkIndex: number;
  /** Category scores, 0–1 (null where a category was not run or failed). */
  scores: Record<string, number | null>;
  metrics: {
    firstContentfulPaintMs: number | null;
    largestContentfulPaintMs: number | null;
    totalBlockingTimeMs: number | null;
    /** Lighthouse 10 took it out of the performance score but still reports it. */
    timeToInteractiveMs: number | null;
    speedIndexMs: number | null;
    cumulativeLayoutShift: number | null;
  };
  /** The main thread's busy time during the load (mainthread-work-breakdown's total). */
  mainThreadWorkMs: number | null;
  longTasks: { count: number; longest: LongTask[] };
  belowPar: BelowPar[];
  warnings: string[];
}

export const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'] as const;

const LONGEST_TASKS = 5;

function tableItems(details: unknown): Record<string, unknown>[] {
  if (typeof details !== 'object' || details === null || !('items' in details)) return [];
  const { items } = details as { items: unknown };
  return Array.isArray(items)
    ? items.filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null)
    : [];
}

export function summariseLighthouse(lhr: LighthouseResultLike): LighthouseSummary {
  const numeric = (id: string) => lhr.audits[id]?.numericValue ?? null;
  const tasks = tableItems(lhr.audits['long-tasks']?.details)
    .map((t) => ({ url: String(t.url ?? ''), startMs: Number(t.startTime), durationMs: Number(t.duration) }))
    .filter((t) => Number.isFinite(t.durationMs));
  const belowPar: BelowPar[] = [];
  for (const [category, { auditRefs }] of Object.entries(lhr.categories)) {
    for (const { id, weight } of auditRefs) {
      const audit = lhr.audits[id];
      if (audit?.score === null || audit?.score === undefined || audit.score >= 0.9) continue;
      belowPar.push({ category, id, title: audit.title, score: audit.score, weight, displayValue: audit.displayValue });
    }
  }
  // Weighted audits first (they are the score), then the worst.
  belowPar.sort((a, b) => b.weight - a.weight || a.score - b.score);
  return {
    lighthouseVersion: lhr.lighthouseVersion,
    throttlingMethod: lhr.configSettings.throttlingMethod,
    formFactor: lhr.configSettings.formFactor,
    cpuSlowdown: lhr.configSettings.throttling.cpuSlowdownMultiplier ?? null,
    benchmarkIndex: lhr.environment.benchmarkIndex,
    scores: Object.fromEntries(CATEGORIES.map((c) => [c, lhr.categories[c]?.score ?? null])),
    metrics: {
      firstContentfulPaintMs: numeric('first-contentful-paint'),
      largestContentfulPaintMs: numeric('largest-contentful-paint'),
      totalBlockingTimeMs: numeric('total-blocking-time'),
      timeToInteractiveMs: numeric('interactive'),
      speedIndexMs: numeric('speed-index'),
      cumulativeLayoutShift: numeric('cumulative-layout-shift'),
    },
    mainThreadWorkMs: numeric('mainthread-work-breakdown'),
    longTasks: {
      count: tasks.length,
      longest: [...tasks].sort((a, b) => b.durationMs - a.durationMs).slice(0, LONGEST_TASKS),
    },
    belowPar,
    warnings: lhr.runWarnings,
  };
}
