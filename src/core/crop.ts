import type { Box } from './geometry';

/**
 * How a detected face becomes the classifier's input. Training and the app both use these settings, read from
 * the model's metadata, so the model sees live exactly what it learned from.
 */
export interface CropSettings {
  /** Side of the square crop fed to the classifier, in pixels. */
  size: number;
  /** Side of the crop as a multiple of the detector's face box side: >1 takes in hair and jaw line. */
  scale: number;
  /** Vertical shift of the crop centre as a fraction of the crop side; negative moves it up. */
  offsetY: number;
}

/** The shipped models' crop since run 9 (docs/experiments.md): trained from scratch, 1.3× beat 1.5× on validation. */
export const DEFAULT_CROP: CropSettings = { size: 64, scale: 1.3, offsetY: -0.05 };

/**
 * The square region of the image to resample for one face. It may run past the image's edges; the resampler
 * fills what lies outside with black, in training and live alike.
 */
export function faceCropBox(face: Box, settings: CropSettings = DEFAULT_CROP): Box {
  const side = Math.max(face.width, face.height) * settings.scale;
  const cx = face.x + face.width / 2;
  const cy = face.y + face.height / 2 + settings.offsetY * side;
  return { x: cx - side / 2, y: cy - side / 2, width: side, height: side };
}

/** A stable key for crop settings, used to keep caches of crops made with other settings apart. */
export function cropSettingsKey(settings: CropSettings): string {
  return `s${settings.size}-k${settings.scale}-dy${settings.offsetY}`;
}
