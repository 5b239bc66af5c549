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

/** "female 93%", "male 88%" or "uncertain". */
export function formatVerdict(v: Verdict): string {
  return v.label === 'uncertain' ? 'uncertain' : `${v.label} ${Math.round(v.confidence * 100)}%`;
}
