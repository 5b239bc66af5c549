import { mulberry32 } from '../../../src/core/augment';
import { shuffled } from './splits';

/**
 * The training images of one (source, class) pair: every batch takes a fixed number of them, so each batch's mix of
 * sources and classes is what the command line asked for, however unequal the folders are.
 */
export interface Stratum {
  source: string;
  label: 0 | 1;
  /** Its images' group (an age band, say) when the pair is split by one; see `splitByGroup`. */
  group?: string;
  /** Its part of the pair's share of a batch (1 unless split). */
  weight?: number;
  /** Indices of its images in the training set. */
  indices: Uint32Array;
}

/**
 * A (source, class) stratum split by a group of its images (an age band from labels.csv), each part weighing the
 * square root of its size against the others: rare groups (teenagers, people over 60) are drawn more often than
 * their share of the folder, but not so often that their few images are repeated in every batch. Images in no group
 * (a blank value) are a part of their own. A stratum whose images all share one group is returned as it is.
 */
export function splitByGroup(stratum: Stratum, groupOf: (index: number) => string | null): Stratum[] {
  const byGroup = new Map<string, number[]>();
  for (const index of stratum.indices) {
    const group = groupOf(index) ?? 'no group';
    const part = byGroup.get(group);
    if (part) part.push(index);
    else byGroup.set(group, [index]);
  }
  if (byGroup.size < 2) return [stratum];
  const total = [...byGroup.values()].reduce((sum, part) => sum + Math.sqrt(part.length), 0);
  return [...byGroup.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, indices]) => ({
      ...stratum,
      group,
      weight: ((stratum.weight ?? 1) * Math.sqrt(indices.length)) / total,
      indices: Uint32Array.from(indices),
    }));
}

/** One training folder as `strataOf` reads it: its Train labels, and the group of each image when balanced by one. */
export interface StrataSource {
  name: string;
  /** Labels of its Train images (0 female, 1 male), in the order the training set holds them. */
  y: ArrayLike<number>;
  groupOf?: ((index: number) => string | null) | null;
}

/**
 * The strata of a training set that holds `sources`' Train images one folder after another: each folder's women and
 * men, each split by `splitByGroup` where the folder has a `groupOf`. Indices are into the whole training set.
 */
export function strataOf(sources: readonly StrataSource[]): Stratum[] {
  const strata: Stratum[] = [];
  let offset = 0;
  for (const { name, y, groupOf } of sources) {
    for (const label of [0, 1] as const) {
      const own = Array.from({ length: y.length }, (_, i) => i).filter((i) => y[i] === label);
      const stratum: Stratum = { source: name, label, indices: Uint32Array.from(own, (i) => offset + i) };
      const start = offset;
      strata.push(...(groupOf ? splitByGroup(stratum, (i) => groupOf(i - start)) : [stratum]));
    }
    offset += y.length;
  }
  return strata;
}

/**
 * A batch's make-up, for the training log: each folder's women and men, and their groups where split, e.g.
 * "celeba 8 female + 8 male, diverse 24 female (13–19 5, 20–39 10, …) + 24 male (…)". Counts that are means over
 * batches are given to a tenth.
 */
export function describeBatch(strata: readonly Stratum[], counts: readonly number[]): string {
  const places = (n: number) => String(Math.round(n * 10) / 10);
  const sources = [...new Set(strata.map((s) => s.source))];
  return sources
    .map((source) => {
      const classes = (['female', 'male'] as const).map((name, label) => {
        const parts = strata.flatMap((s, k) => (s.source === source && s.label === label ? [[s, k] as const] : []));
        const n = parts.reduce((sum, [, k]) => sum + counts[k], 0);
        const groups =
          parts.length > 1 ? ` (${parts.map(([s, k]) => `${s.group} ${places(counts[k])}`).join(', ')})` : '';
        return `${places(n)} ${name}${groups}`;
      });
      return `${source} ${classes.join(' + ')}`;
    })
    .join(', ');
}

/**
 * How many images of each stratum a batch of `batch` takes, given each stratum's share (any positive weights):
 * shares rounded by largest remainder, so the counts add up to `batch` exactly.
 */
export function stratumCounts(shares: readonly number[], batch: number): number[] {
  const total = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (s / total) * batch);
  const counts = exact.map(Math.floor);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const missing = batch - counts.reduce((a, b) => a + b, 0);
  for (let k = 0; k < missing; k++) counts[byRemainder[k][1]]++;
  return counts;
}

/** A stratum's (source, class) pair, the unit whose share of a batch the command line sets. */
const pairOf = (s: Stratum) => `${s.source}|${s.label}`;

/** The strata of each (source, class) pair, as indices into `strata`, and each pair's count in a batch of `batch`. */
function pairsOf(strata: readonly Stratum[], shareOf: (stratum: Stratum) => number, batch: number) {
  const byPair = new Map<string, number[]>();
  strata.forEach((s, k) => {
    const key = pairOf(s);
    const pair = byPair.get(key);
    if (pair) pair.push(k);
    else byPair.set(key, [k]);
  });
  const pairs = [...byPair.values()];
  const counts = stratumCounts(
    pairs.map((ks) => shareOf(strata[ks[0]])),
    batch,
  );
  return pairs.map((members, i) => ({ members, count: counts[i] }));
}

/**
 * How many images of each stratum a batch of `batch` takes: first each (source, class) pair's count, by its share
 * (`shareOf`), then each pair's count split among its strata by their weights, both rounded by largest remainder. The
 * folder and class mix is then exactly what its shares give, whatever the weights within each pair.
 */
export function batchCounts(
  strata: readonly Stratum[],
  shareOf: (stratum: Stratum) => number,
  weights: readonly number[],
  batch: number,
): number[] {
  const counts = strata.map(() => 0);
  for (const { members, count } of pairsOf(strata, shareOf, batch)) {
    const within = stratumCounts(
      members.map((k) => weights[k]),
      count,
    );
    members.forEach((k, j) => (counts[k] = within[j]));
  }
  return counts;
}

/**
 * The counts of each stratum in each of an epoch's `steps` batches, for weights that change from epoch to epoch
 * (group DRO): each (source, class) pair has its share's count in every batch, as in `batchCounts`, and the epoch's
 * places of a pair are dealt one by one, each to the stratum furthest behind its weight's part of the places dealt
 * so far (smooth weighted round-robin). A stratum worth half a place a batch then gets one every other batch, where
 * rounding every batch alike gives it none for the whole epoch.
 */
export function epochCounts(
  strata: readonly Stratum[],
  shareOf: (stratum: Stratum) => number,
  weights: readonly number[],
  batch: number,
  steps: number,
): number[][] {
  const rows = Array.from({ length: steps }, () => strata.map(() => 0));
  for (const { members, count } of pairsOf(strata, shareOf, batch)) {
    const own = members.map((k) => weights[k]);
    const total = own.reduce((a, b) => a + b, 0);
    const credit = own.map(() => 0);
    for (const row of rows)
      for (let place = 0; place < count; place++) {
        let best = 0;
        for (let j = 0; j < own.length; j++) {
          credit[j] += own[j];
          if (credit[j] > credit[best]) best = j;
        }
        credit[best] -= total;
        row[members[best]]++;
      }
  }
  return rows;
}

/**
 * Group DRO's weights (Sagawa et al., 2020), updated once an epoch rather than once a batch: each stratum's weight is
 * multiplied by exp(η × its mean training loss), then the parts of each (source, class) pair are scaled back to the
 * pair's total. The folder and class mix stays what was asked; within it, the groups the model fits worst are drawn
 * more often, and more so every epoch they stay worst.
 */
export function groupDroWeights(
  strata: readonly Stratum[],
  weights: readonly number[],
  losses: readonly number[],
  eta: number,
): number[] {
  const raised = weights.map((w, s) => w * Math.exp(eta * losses[s]));
  const before = new Map<string, number>();
  const after = new Map<string, number>();
  strata.forEach((s, k) => {
    before.set(pairOf(s), (before.get(pairOf(s)) ?? 0) + weights[k]);
    after.set(pairOf(s), (after.get(pairOf(s)) ?? 0) + raised[k]);
  });
  return raised.map((w, k) => (w * before.get(pairOf(strata[k]))!) / after.get(pairOf(strata[k]))!);
}

/**
 * The training-set indices of global batch `step` (counted over all epochs), after earlier batches took `taken[s]`
 * images of stratum s (by default `step × counts[s]`: every batch so far had these counts). Each stratum is walked
 * through in shuffled passes, a new order each pass, so every image of a stratum is seen once before any is seen
 * twice; the batch is a function of the seed, the step and `taken` alone, so a resumed run sees exactly the batches
 * it would have.
 * The batch comes in random order: the data-parallel step splits it in halves, each normalised by BatchNorm on its
 * own, and a half that held one stratum (one class, or one folder) would learn from its statistics.
 */
export function mixedBatch(
  strata: readonly Stratum[],
  counts: readonly number[],
  step: number,
  seed: number,
  taken: readonly number[] = counts.map((c) => step * c),
): number[] {
  const out: number[] = [];
  strata.forEach((stratum, s) => {
    const n = stratum.indices.length;
    for (let k = 0; k < counts[s]; k++) {
      const position = taken[s] + k;
      const pass = Math.floor(position / n);
      out.push(stratum.indices[passOrder(seed, s, pass, n)[position % n]]);
    }
  });
  const order = shuffled(out.length, mulberry32((seed * 104_729 + 17) * 1_000_003 + step));
  return Array.from(order, (i) => out[i]);
}

const orders = new Map<string, Uint32Array>();

/** The shuffled order of one pass over a stratum; the last few are kept, as consecutive batches share passes. */
function passOrder(seed: number, stratum: number, pass: number, n: number): Uint32Array {
  const key = `${seed}|${stratum}|${pass}|${n}`;
  let order = orders.get(key);
  if (!order) {
    order = shuffled(n, mulberry32((seed * 7919 + stratum) * 100_003 + pass));
    if (orders.size >= 64) orders.delete(orders.keys().next().value as string);
    orders.set(key, order);
  }
  return order;
}
