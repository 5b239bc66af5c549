export type GenderLabel = 'female' | 'male' | 'uncertain';

export interface LabelPolicy {
  /** Probability of "male" at which the decision flips. */
  threshold: number;
  /** Half-width of the band around the threshold shown as "uncertain". */
  uncertainBand: number;
}

export const DEFAULT_POLICY: LabelPolicy = { threshold: 0.5, uncertainBand: 0.15 };

export interface Verdict {
  label: GenderLabel;
  /** Probability of the label shown (for "uncertain": of the likelier class). */
  confidence: number;
  probabilityMale: number;
}

export function verdict(probabilityMale: number, policy: LabelPolicy = DEFAULT_POLICY): Verdict {
  const male = probabilityMale >= policy.threshold;
  const confidence = male ? probabilityMale : 1 - probabilityMale;
  const label: GenderLabel =
    Math.abs(probabilityMale - policy.threshold) < policy.uncertainBand ? 'uncertain' : male ? 'male' : 'female';
  return { label, confidence, probabilityMale };
}

/** What a live face shows while it has no label yet (see FaceTracker): neither a class nor "uncertain". */
export const PENDING_TEXT = '…';

/**
 * A probability as a whole percent between 1 % and 99 %: a calibrated probability is never certain, and
 * rounding 0.998 up to "100%" would say it is.
 */
export function formatPercent(probability: number): string {
  return `${Math.min(99, Math.max(1, Math.round(probability * 100)))}%`;
}

/** "female 93%", "male 88%" or "uncertain"; PENDING_TEXT for a face without a verdict yet. */
export function formatVerdict(v: Verdict | undefined): string {
  if (!v) return PENDING_TEXT;
  return v.label === 'uncertain' ? 'uncertain' : `${v.label} ${formatPercent(v.confidence)}`;
}
