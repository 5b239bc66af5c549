import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { meanLogit } from '../../../src/core/calibration';
import { writeLinesAtomically } from '../data/lines';

/**
 * Knowledge distillation for a binary classifier: each Train crop is trained towards a blend of its label and a
 * teacher's probability for it, (1 − w)·label + w·teacher. Binary cross-entropy is linear in its target, so this is
 * the usual distillation loss, (1 − w)·BCE(label) + w·BCE(teacher), at no cost per step. The teacher's probability
 * says how plainly a face shows its class, which a hard label cannot; a wrong label it disagrees with weighs less.
 * A weight of at most 0.5 keeps every target on its label's side of 0.5, so training accuracy still counts labels.
 */
export function distilledTargets(labels: ArrayLike<number>, teacher: ArrayLike<number>, weight: number): Float32Array {
  if (labels.length !== teacher.length)
    throw new Error(`${labels.length} labels but ${teacher.length} teacher probabilities`);
  if (!(weight > 0 && weight <= 0.5)) throw new Error(`the teacher's weight must be in (0, 0.5], got ${weight}`);
  return Float32Array.from(labels, (y, i) => (1 - weight) * y + weight * teacher[i]);
}

/**
 * The teacher's probability for each of `names` (the Train crops, in order), computed once and kept in `file` (the
 * run's folder) with the teacher's version and a hash of the names, so that a resumed run does not classify every
 * crop again (minutes on two cores). Computed afresh when the file is of another teacher or other crops.
 */
export async function cachedTeacherProbs(
  file: string,
  version: string,
  names: readonly string[],
  compute: () => Promise<Float32Array>,
): Promise<Float32Array> {
  const key = `${version} ${createHash('sha256').update(names.join('\n')).digest('hex')}`;
  if (existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { key: string; probs: number[] };
    if (kept.key === key) return Float32Array.from(kept.probs);
  }
  const probs = await compute();
  // Written whole or not at all: a run stopped mid-write must still resume.
  writeLinesAtomically(file, (write) => write(JSON.stringify({ key, probs: Array.from(probs) })));
  return probs;
}

/**
 * A teacher given as probabilities rather than as a model: each Train crop of one folder (`source`, by the folder's
 * name) by its name in that folder, with the file's sha256. training/experiments/probe-teacher.ts writes such a file
 * from a third-party network's linear probe, a teacher that cannot run in training as our exported models do.
 */
export interface ListedTeacher {
  source: string;
  probs: Record<string, number>;
  sha256: string;
}

export function readListedTeacher(file: string): ListedTeacher {
  const text = readFileSync(file, 'utf8');
  const { source, probs } = JSON.parse(text) as Partial<ListedTeacher>;
  const valid =
    typeof source === 'string' &&
    typeof probs === 'object' &&
    probs !== null &&
    Object.values(probs).every((p) => typeof p === 'number' && p > 0 && p < 1);
  if (!valid)
    throw new Error(`not a teacher's probabilities ({"source": folder, "probs": {crop name: P(male) in (0, 1)}})`);
  return { source, probs, sha256: createHash('sha256').update(text).digest('hex') };
}

/**
 * The teachers' mean logit for each Train crop: `each` holds each model's probabilities for all of them, and a listed
 * teacher joins the mean for its folder's crops, which are `names` from `offset` on. It must list every one of them:
 * a file made from other crops (another crop setting, a changed folder) would teach some faces and not others.
 */
export function teacherEnsemble(
  each: readonly Float32Array[],
  listed?: { teacher: ListedTeacher; names: readonly string[]; offset: number },
): Float32Array {
  const probs = Float32Array.from(each[0], (_, i) => meanLogit(each.map((p) => p[i])));
  if (!listed) return probs;
  const { teacher, names, offset } = listed;
  const missing = names.filter((name) => !Object.hasOwn(teacher.probs, name));
  if (missing.length > 0)
    throw new Error(
      `the teacher's probabilities lack ${missing.length} of ${teacher.source}'s ${names.length} Train crops (${missing[0]}, …)`,
    );
  names.forEach((name, j) => {
    const i = offset + j;
    probs[i] = meanLogit([...each.map((p) => p[i]), teacher.probs[name]]);
  });
  return probs;
}
