/** A backend that has lost its GPU context this many times is not tried again: its GPU or driver keeps failing. */
export const MAX_CONTEXT_LOSSES = 2;

/**
 * The backends to load, best first, after `lost` lost its GPU context for the `losses`-th time: `lost` again (a new
 * context usually works after a driver reset, a GPU switch or memory pressure) until it has been lost
 * `MAX_CONTEXT_LOSSES` times, then the backends after it in `fallbacks`, whatever order the user forced at start:
 * running on another backend beats not running.
 */
export function orderAfterContextLoss<T extends string>(lost: T, losses: number, fallbacks: readonly T[]): T[] {
  const after = fallbacks.slice(fallbacks.indexOf(lost) + 1).filter((b) => b !== lost);
  return losses < MAX_CONTEXT_LOSSES ? [lost, ...after] : after;
}
