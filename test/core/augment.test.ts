import { describe, expect, it } from 'vitest';
import {
  affineMatrix,
  BLUR_AUGMENT,
  DEFAULT_AUGMENT,
  ERASE_AUGMENT,
  eraseMask,
  FAR_AUGMENT,
  frameMask,
  gaussianKernel,
  IDENTITY_APPEARANCE,
  IDENTITY_PARAMS,
  mulberry32,
  ROBUST_AUGMENT,
  sampleAppearance,
  sampleAugmentation,
  sampleBeta,
  sampleNormal,
  toTransformVector,
  type AugmentParams,
} from '../../src/core/augment';

/** Where output pixel (x, y) samples the input under `matrix`. */
function apply(matrix: number[], x: number, y: number): [number, number] {
  return [matrix[0] * x + matrix[1] * y + matrix[2], matrix[3] * x + matrix[4] * y + matrix[5]];
}

function expectPoint(actual: [number, number], expected: [number, number]): void {
  expect(actual[0]).toBeCloseTo(expected[0], 9);
  expect(actual[1]).toBeCloseTo(expected[1], 9);
}

function params(overrides: Partial<AugmentParams>): AugmentParams {
  return { ...IDENTITY_PARAMS, ...overrides };
}

/**
 * keras-preprocessing's `apply_affine_transform` matrix, transcribed in its own (row, col) order and naming:
 * `tx` shifts rows, `zx` zooms rows, and the result is offset about (h/2 − 0.5, w/2 − 0.5).
 */
function kerasMatrix(
  theta: number,
  tx: number,
  ty: number,
  shear: number,
  zx: number,
  zy: number,
  h: number,
  w: number,
) {
  const t = (theta * Math.PI) / 180;
  const s = (shear * Math.PI) / 180;
  const ox = h / 2 - 0.5;
  const oy = w / 2 - 0.5;
  const mats = [
    [1, 0, ox, 0, 1, oy, 0, 0, 1],
    [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1],
    [1, 0, tx, 0, 1, ty, 0, 0, 1],
    [1, -Math.sin(s), 0, 0, Math.cos(s), 0, 0, 0, 1],
    [zx, 0, 0, 0, zy, 0, 0, 0, 1],
    [1, 0, -ox, 0, 1, -oy, 0, 0, 1],
  ];
  return mats.reduce((a, b) =>
    Array.from({ length: 9 }, (_, i) => {
      const r = Math.floor(i / 3);
      const c = i % 3;
      return a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
    }),
  );
}

/** Swaps the first two coordinates of a 3×3 matrix: (row, col) ⇄ (x, y). */
function swapXY(m: number[]): number[] {
  const p = [1, 0, 2];
  return Array.from({ length: 9 }, (_, i) => m[p[Math.floor(i / 3)] * 3 + p[i % 3]]);
}

describe('affineMatrix', () => {
  it('is the identity for identity params', () => {
    expect(affineMatrix(IDENTITY_PARAMS, 64, 48)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('rotates 90° about the pixel-grid centre: the output top-left samples the input bottom-left', () => {
    // Keras's positive angle turns the picture clockwise on screen (y grows downwards).
    const m = affineMatrix(params({ theta: 90 }), 5, 5);
    expectPoint(apply(m, 0, 0), [0, 4]);
    expectPoint(apply(m, 4, 0), [0, 0]);
    expectPoint(apply(m, 4, 4), [4, 0]);
    expectPoint(apply(m, 0, 4), [4, 4]);
    expectPoint(apply(m, 2, 2), [2, 2]);
  });

  it('shifts by tx·width and ty·height: output p samples input p + (tx·w, ty·h), so content moves the other way', () => {
    const m = affineMatrix(params({ tx: 0.25, ty: -0.1 }), 40, 30);
    expectPoint(apply(m, 7, 11), [7 + 10, 11 - 3]);
  });

  it('zooms about the centre like Keras: factor 2 maps offset d to 2d, showing more of the image (zoom out)', () => {
    const m = affineMatrix(params({ zx: 2, zy: 2 }), 9, 7);
    expectPoint(apply(m, 4, 3), [4, 3]);
    expectPoint(apply(m, 4 + 1.5, 3 - 1), [4 + 3, 3 - 2]);
  });

  it('flips about the pixel grid: x → width − 1 − x, y unchanged', () => {
    const m = affineMatrix(params({ flip: true }), 10, 6);
    expectPoint(apply(m, 0, 2), [9, 2]);
    expectPoint(apply(m, 9, 5), [0, 5]);
    expectPoint(apply(m, 3, 1), [6, 1]);
  });

  it("equals Keras's rotation · shift · shear · zoom matrix on a non-square image, with axes swapped", () => {
    const w = 64;
    const h = 48;
    const p = params({ theta: 23, tx: 0.13, ty: -0.17, shear: 11, zx: 0.85, zy: 1.15 });
    // Keras's row shift is our vertical shift in pixels, its row zoom our vertical zoom.
    const keras = swapXY(kerasMatrix(p.theta, p.ty * h, p.tx * w, p.shear, p.zy, p.zx, h, w));
    const ours = affineMatrix(p, w, h);
    ours.forEach((v, i) => expect(v).toBeCloseTo(keras[i], 9));
  });

  it('applies the flip to the output before the affine part, as Keras flips the transformed image', () => {
    const p = params({ theta: 30, tx: 0.1, zx: 1.1 });
    const plain = affineMatrix(p, 20, 20);
    const flipped = affineMatrix({ ...p, flip: true }, 20, 20);
    expectPoint(apply(flipped, 3, 7), apply(plain, 19 - 3, 7));
  });
});

describe('toTransformVector', () => {
  it("gives tf.image.transform's [a0 a1 a2 b0 b1 b2 c0 c1], normalised so the last entry is 1", () => {
    expect(toTransformVector([2, 4, 6, 8, 10, 12, 0, 0, 2])).toEqual([1, 2, 3, 4, 5, 6, 0, 0]);
    const m = affineMatrix(params({ theta: 10, tx: 0.2 }), 32, 32);
    expect(toTransformVector(m)).toEqual(m.slice(0, 8));
  });
});

describe('sampleAugmentation', () => {
  it('stays within the Keras ranges and covers them', () => {
    const rng = mulberry32(7);
    const draws = Array.from({ length: 5000 }, () => sampleAugmentation(rng, DEFAULT_AUGMENT));
    const span = (key: 'theta' | 'tx' | 'ty' | 'shear' | 'zx' | 'zy') => {
      const values = draws.map((d) => d[key]);
      return [Math.min(...values), Math.max(...values)];
    };
    const expectRange = (key: Parameters<typeof span>[0], lo: number, hi: number) => {
      const [min, max] = span(key);
      expect(min).toBeGreaterThanOrEqual(lo);
      expect(max).toBeLessThanOrEqual(hi);
      // 5000 uniform draws reach within 1% of both ends with overwhelming probability.
      expect(min).toBeLessThan(lo + 0.01 * (hi - lo));
      expect(max).toBeGreaterThan(hi - 0.01 * (hi - lo));
    };
    expectRange('theta', -40, 40);
    expectRange('tx', -0.2, 0.2);
    expectRange('ty', -0.2, 0.2);
    expectRange('shear', -0.2, 0.2);
    expectRange('zx', 0.8, 1.2);
    expectRange('zy', 0.8, 1.2);
    const flips = draws.filter((d) => d.flip).length / draws.length;
    expect(flips).toBeGreaterThan(0.45);
    expect(flips).toBeLessThan(0.55);
  });

  it('draws zx and zy independently', () => {
    const rng = mulberry32(3);
    const draws = Array.from({ length: 100 }, () => sampleAugmentation(rng));
    expect(draws.some((d) => Math.abs(d.zx - d.zy) > 0.1)).toBe(true);
  });

  it('never flips when flipping is off, and gives the identity when every range is zero', () => {
    const off = {
      rotationRange: 0,
      widthShiftRange: 0,
      heightShiftRange: 0,
      shearRange: 0,
      zoomRange: 0,
      horizontalFlip: false,
    };
    const rng = mulberry32(1);
    for (let i = 0; i < 50; i++) {
      expect(affineMatrix(sampleAugmentation(rng, off), 16, 16)).toEqual(affineMatrix(IDENTITY_PARAMS, 16, 16));
    }
  });

  it('repeats exactly for the same seed and differs for another', () => {
    const draw = (seed: number) => {
      const rng = mulberry32(seed);
      return Array.from({ length: 10 }, () => sampleAugmentation(rng));
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });
});

describe('mulberry32', () => {
  it('returns floats in [0, 1)', () => {
    const rng = mulberry32(123);
    const values = Array.from({ length: 10000 }, rng);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
  });
});

describe('sampleNormal', () => {
  it('draws a standard normal: mean 0, variance 1, 95 % within ±1.96', () => {
    const rng = mulberry32(3);
    const draws = Array.from({ length: 20000 }, () => sampleNormal(rng));
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    const variance = draws.reduce((s, x) => s + (x - mean) ** 2, 0) / draws.length;
    expect(mean).toBeCloseTo(0, 1);
    expect(variance).toBeCloseTo(1, 1);
    expect(draws.filter((x) => Math.abs(x) < 1.96).length / draws.length).toBeCloseTo(0.95, 2);
  });
});

describe('sampleBeta', () => {
  // Beta(α, α) has mean 1/2 and variance 1 / (4 (2α + 1)): 0.179 at α = 0.2 (mostly near 0 or 1), 0.05 at α = 2.
  it.each([
    [0.2, 0.1786],
    [2, 0.05],
  ])('draws Beta(%s, %s) in [0, 1] with its mean and variance', (alpha, variance) => {
    const rng = mulberry32(7);
    const draws = Array.from({ length: 20000 }, () => sampleBeta(rng, alpha));
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    const spread = draws.reduce((s, x) => s + (x - mean) ** 2, 0) / draws.length;
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThanOrEqual(1);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(spread).toBeCloseTo(variance, 2);
  });

  it('repeats with the seed', () => {
    const draw = () => {
      const rng = mulberry32(11);
      return Array.from({ length: 5 }, () => sampleBeta(rng, 0.4));
    };
    expect(draw()).toEqual(draw());
  });
});

describe('sampleAppearance', () => {
  const settings = ROBUST_AUGMENT.appearance!;
  const draws = (() => {
    const rng = mulberry32(77);
    return Array.from({ length: 20000 }, () => sampleAppearance(rng, settings));
  })();
  const share = (f: (p: (typeof draws)[number]) => boolean) => draws.filter(f).length / draws.length;

  it('keeps brightness, contrast and saturation within their ranges', () => {
    const spread = (f: (p: (typeof draws)[number]) => number) => Math.max(...draws.map((p) => Math.abs(f(p) - 1)));
    expect(spread((p) => p.brightness)).toBeLessThanOrEqual(settings.brightness);
    expect(spread((p) => p.contrast)).toBeLessThanOrEqual(settings.contrast);
    expect(spread((p) => (p.saturation === 0 ? 1 : p.saturation))).toBeLessThanOrEqual(settings.saturation);
  });

  it('turns the set share grey, and cuts each side of a framed image half the time, never beyond the maximum', () => {
    expect(share((p) => p.saturation === 0)).toBeCloseTo(settings.grayscale, 2);
    const framed = settings.frameCut;
    expect(share((p) => p.cut.left > 0)).toBeCloseTo(framed / 2, 1);
    expect(share((p) => Object.values(p.cut).some((c) => c > 0))).toBeCloseTo(framed * (1 - 1 / 16), 1);
    expect(Math.max(...draws.flatMap((p) => Object.values(p.cut)))).toBeLessThanOrEqual(settings.frameCutMax);
  });
});

describe('sampleAppearance with lowRes', () => {
  const lowRes = FAR_AUGMENT.appearance!.lowRes!;
  const draws = (() => {
    const rng = mulberry32(78);
    return Array.from({ length: 20000 }, () => sampleAppearance(rng, FAR_AUGMENT.appearance!));
  })();
  const far = draws.flatMap((p) => (p.lowRes ? [p.lowRes] : []));

  it('makes the set share low-resolution, with widths and noise in range', () => {
    expect(Math.abs(far.length / draws.length - lowRes.share)).toBeLessThan(0.015);
    expect(Math.min(...far.map((f) => f.width))).toBeGreaterThanOrEqual(lowRes.minWidth);
    expect(Math.max(...far.map((f) => f.width))).toBeLessThan(lowRes.maxWidth);
    expect(Math.max(...far.map((f) => f.noise))).toBeLessThan(lowRes.noise);
    expect(new Set(far.map((f) => f.seed)).size).toBeGreaterThan(far.length * 0.99);
  });

  it("draws after the robust preset's own draws, so a first image looks as it did before apart from the blur", () => {
    const robust = sampleAppearance(mulberry32(5), ROBUST_AUGMENT.appearance!);
    const far = sampleAppearance(mulberry32(5), FAR_AUGMENT.appearance!);
    expect({ ...far, lowRes: undefined }).toEqual({ ...robust, lowRes: undefined });
  });
});

describe('sampleAppearance with erase', () => {
  const erase = ERASE_AUGMENT.appearance!.erase!;
  const draws = (() => {
    const rng = mulberry32(79);
    return Array.from({ length: 20000 }, () => sampleAppearance(rng, ERASE_AUGMENT.appearance!));
  })();
  const rects = draws.flatMap((p) => (p.erase ? [p.erase] : []));

  it('erases the set share, with areas and aspects in range and every rectangle inside the crop', () => {
    expect(Math.abs(rects.length / draws.length - erase.share)).toBeLessThan(0.015);
    const areas = rects.map((r) => r.width * r.height);
    expect(Math.min(...areas)).toBeGreaterThanOrEqual(erase.minArea - 1e-9);
    expect(Math.max(...areas)).toBeLessThanOrEqual(erase.maxArea + 1e-9);
    const aspects = rects.map((r) => r.height / r.width);
    expect(Math.min(...aspects)).toBeGreaterThanOrEqual(1 / erase.maxAspect - 1e-9);
    expect(Math.max(...aspects)).toBeLessThanOrEqual(erase.maxAspect + 1e-9);
    expect(rects.every((r) => r.x >= 0 && r.y >= 0 && r.x + r.width <= 1 && r.y + r.height <= 1)).toBe(true);
    expect(rects.every((r) => r.grey >= 0 && r.grey < 255)).toBe(true);
  });

  it("draws after the far preset's own draws, so an image looks as it did with far apart from the rectangle", () => {
    for (const seed of [5, 6, 7]) {
      const far = sampleAppearance(mulberry32(seed), FAR_AUGMENT.appearance!);
      const erased = sampleAppearance(mulberry32(seed), ERASE_AUGMENT.appearance!);
      expect({ ...erased, erase: undefined }).toEqual({ ...far, erase: undefined });
    }
  });
});

describe('sampleAppearance with blur', () => {
  const blur = BLUR_AUGMENT.appearance!.blur!;

  it('blurs the set share, with σ in range', () => {
    const rng = mulberry32(12);
    const draws = Array.from({ length: 20000 }, () => sampleAppearance(rng, BLUR_AUGMENT.appearance!));
    const sigmas = draws.flatMap((p) => (p.blur ? [p.blur] : []));
    expect(Math.abs(sigmas.length / draws.length - blur.share)).toBeLessThan(0.015);
    expect(Math.min(...sigmas)).toBeGreaterThanOrEqual(blur.minSigma);
    expect(Math.max(...sigmas)).toBeLessThanOrEqual(blur.maxSigma);
  });

  it('changes nothing else: no colour, framing, far-face or erasing change', () => {
    const rng = mulberry32(13);
    for (let i = 0; i < 200; i++) {
      const { blur: sigma, ...rest } = sampleAppearance(rng, BLUR_AUGMENT.appearance!);
      expect(sigma === undefined || sigma > 0).toBe(true);
      expect(rest).toEqual(IDENTITY_APPEARANCE);
    }
  });
});

describe('gaussianKernel', () => {
  it('is 2⌈3σ⌉ + 1 taps that sum to 1, symmetric, highest in the middle, at the Gaussian ratios', () => {
    const taps = Array.from(gaussianKernel(1));
    expect(taps).toHaveLength(7);
    expect(taps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(taps).toEqual([...taps].reverse());
    expect(Math.max(...taps)).toBe(taps[3]);
    expect(taps[4] / taps[3]).toBeCloseTo(Math.exp(-0.5), 6);
    expect(gaussianKernel(2.5)).toHaveLength(17);
  });
});

describe('eraseMask', () => {
  it('zeroes the rectangle, rounding fractions to whole pixels, and keeps the rest', () => {
    const mask = eraseMask({ x: 0.25, y: 0, width: 0.5, height: 1 / 3, grey: 100 }, 4, 3);
    expect(Array.from(mask)).toEqual([1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });
});

describe('frameMask', () => {
  it('is all ones without a cut', () => {
    expect(Array.from(frameMask({ left: 0, right: 0, top: 0, bottom: 0 }, 4, 3))).toEqual(new Array(12).fill(1));
  });

  it('blacks out the cut columns and rows, rounding fractions to whole pixels', () => {
    const mask = frameMask({ left: 0.25, right: 0.25, top: 0, bottom: 1 / 3 }, 4, 3);
    expect(Array.from(mask)).toEqual([0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('is all zeros when the cuts overlap', () => {
    expect(Array.from(frameMask({ left: 0.6, right: 0.6, top: 0, bottom: 0 }, 5, 2))).toEqual(new Array(10).fill(0));
  });
});
