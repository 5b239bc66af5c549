import { formatVerdict, type LabelPolicy, type Verdict } from './labels';

/** How wide the "uncertain" band is: none, the model's own (metadata.json), or wider. */
export type Caution = 'off' | 'normal' | 'cautious';

export const CAUTION_LEVELS: readonly Caution[] = ['off', 'normal', 'cautious'];

/** What changes how a face is labelled. */
export interface LabelSettings {
  caution: Caution;
  /** "male 88%" rather than "male". */
  showPercent: boolean;
}

/** The user's choices, as stored on the device. */
export interface Settings extends LabelSettings {
  /** The camera chosen (a `deviceId`); undefined: the front camera, as the browser picks it. */
  cameraId?: string;
}

export const DEFAULT_SETTINGS: Settings = { caution: 'normal', showPercent: true };

/** The narrowest cautious band: twice a band of zero would be no band at all. */
const CAUTIOUS_MIN_BAND = 0.1;
/** The widest, as a share of the distance from the threshold to 0 or 1: both labels must stay reachable. */
const CAUTIOUS_MAX_SHARE = 0.8;

/**
 * The label policy for a caution level, from the model's own (metadata.json): "off" drops the band, so a face always
 * gets the likelier label; "normal" is the model's; "cautious" doubles its band (at least 0.1, and never past 80 %
 * of the way from the threshold to 0 or 1). Export fits the model's band so that 97 % of validation faces get a
 * label; doubled, a label needs to be that much more likely.
 */
export function labelPolicy(caution: Caution, model: LabelPolicy): LabelPolicy {
  if (caution === 'normal') return model;
  if (caution === 'off') return { ...model, uncertainBand: 0 };
  const widened = Math.max(2 * model.uncertainBand, CAUTIOUS_MIN_BAND);
  const cap = CAUTIOUS_MAX_SHARE * Math.min(model.threshold, 1 - model.threshold);
  return { ...model, uncertainBand: Math.max(model.uncertainBand, Math.min(widened, cap)) };
}

/**
 * How likely a label must be for a face to get it under `policy`, in words for the settings sheet: "57%", or
 * "55% (female) or 59% (male)" when the threshold is not 0.5; undefined when there is no band.
 */
export function labelledFrom(policy: LabelPolicy): string | undefined {
  if (policy.uncertainBand <= 0) return undefined;
  const male = Math.round((policy.threshold + policy.uncertainBand) * 100);
  const female = Math.round((1 - policy.threshold + policy.uncertainBand) * 100);
  return male === female ? `${male}%` : `${female}% (female) or ${male}% (male)`;
}

/** What the overlay and the live region show for a face: `formatVerdict`, without the percentage if so chosen. */
export function formatLabel(v: Verdict | undefined, showPercent: boolean): string {
  return v && !showPercent ? v.label : formatVerdict(v);
}

/**
 * The stored settings (a JSON string, or null when none were stored): each field that is missing or invalid, as a
 * hand-edited or older value may be, gets its default, and the others are kept.
 */
export function parseSettings(stored: string | null): Settings {
  let raw: unknown;
  try {
    raw = stored === null ? undefined : JSON.parse(stored);
  } catch {
    raw = undefined;
  }
  const s = (raw !== null && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const settings: Settings = {
    caution: CAUTION_LEVELS.includes(s.caution as Caution) ? (s.caution as Caution) : DEFAULT_SETTINGS.caution,
    showPercent: typeof s.showPercent === 'boolean' ? s.showPercent : DEFAULT_SETTINGS.showPercent,
  };
  if (typeof s.cameraId === 'string' && s.cameraId !== '') settings.cameraId = s.cameraId;
  return settings;
}

export function serializeSettings(settings: Settings): string {
  const { caution, showPercent, cameraId } = settings;
  return JSON.stringify({ caution, showPercent, cameraId });
}
