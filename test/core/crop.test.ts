import { describe, expect, it } from 'vitest';
import { cropSettingsKey, DEFAULT_CROP, faceCropBox } from '../../src/core/crop';

describe('faceCropBox', () => {
  it('makes a square scaled about the face centre, shifted by offsetY of its side', () => {
    const box = faceCropBox({ x: 100, y: 100, width: 40, height: 50 }, { size: 64, scale: 2, offsetY: -0.1 });
    // Side: max(40, 50) × 2 = 100; centre (120, 125) moved up by 10.
    expect(box).toEqual({ x: 70, y: 65, width: 100, height: 100 });
  });

  it('may run past the image edge (the resampler fills it)', () => {
    const box = faceCropBox({ x: 0, y: 0, width: 20, height: 20 }, DEFAULT_CROP);
    expect(box.x).toBeLessThan(0);
    expect(box.width).toBeCloseTo(20 * DEFAULT_CROP.scale);
  });

  it('keys settings so caches of different crops stay apart', () => {
    expect(cropSettingsKey(DEFAULT_CROP)).not.toBe(cropSettingsKey({ ...DEFAULT_CROP, scale: 1.2 }));
  });
});
