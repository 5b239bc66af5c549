/** Value at fraction `q` (0–1) of sorted samples, by the nearest-rank method; NaN when there are none. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

export interface StageSummary {
  median: number;
  p90: number;
  samples: number;
}

/**
 * The last `capacity` durations of each named stage of the frame pipeline, and of whole frames for the frame
 * rate. A ring per stage keeps memory fixed however long the app runs.
 */
export class FrameStats {
  private readonly stages = new Map<string, number[]>();
  private readonly frameTimes: number[] = [];

  constructor(private readonly capacity = 300) {}

  /** Records one frame: its stage durations (ms) and when it finished (ms, any monotonic clock). */
  add(durations: Readonly<Record<string, number>>, finishedAt: number): void {
    for (const [stage, ms] of Object.entries(durations)) {
      let ring = this.stages.get(stage);
      if (!ring) this.stages.set(stage, (ring = []));
      push(ring, ms, this.capacity);
    }
    push(this.frameTimes, finishedAt, this.capacity);
  }

  /** Frames per second over the recorded window. */
  fps(): number {
    const n = this.frameTimes.length;
    if (n < 2) return 0;
    const span = this.frameTimes[n - 1] - this.frameTimes[0];
    return span > 0 ? ((n - 1) * 1000) / span : 0;
  }

  summary(stage: string): StageSummary {
    const ring = this.stages.get(stage) ?? [];
    return { median: quantile(ring, 0.5), p90: quantile(ring, 0.9), samples: ring.length };
  }

  stageNames(): string[] {
    return [...this.stages.keys()];
  }

  clear(): void {
    this.stages.clear();
    this.frameTimes.length = 0;
  }
}

function push(ring: number[], value: number, capacity: number): void {
  ring.push(value);
  if (ring.length > capacity) ring.shift();
}
