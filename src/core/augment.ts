/**
 * Training-time augmentation matching the Keras tutorial's ImageDataGenerator, reduced to one affine matrix per
 * image so a whole batch can be resampled in a single `tf.image.transform` call.
 *
 * Keras (keras-preprocessing `apply_affine_transform`) builds its matrix in (row, col) order and calls the row
 * shift `tx`. Everything here is in (x, y) = (col, row) order, the order `tf.image.transform` reads, so each Keras
 * matrix appears transposed about the diagonal: the same transform, with x and y named the image's way.
 */

export interface AugmentSettings {
  /** Rotation angle θ ~ U(−r, r), in degrees. */
  rotationRange: number;
  /** Horizontal shift ~ U(−r, r) as a fraction of the image width. */
  widthShiftRange: number;
  /** Vertical shift ~ U(−r, r) as a fraction of the image height. */
  heightShiftRange: number;
  /**
   * Shear angle ~ U(−r, r), in DEGREES, as Keras reads `shear_range`: the tutorial's 0.2 is a 0.2° shear, which
   * moves no pixel by more than ~0.2 px on a 64 px crop. Raise it (e.g. to 10) for a shear that shows.
   */
  shearRange: number;
  /** Zoom factors zx, zy ~ U(1 − r, 1 + r), drawn independently as Keras does; a factor > 1 zooms out. */
  zoomRange: number;
  /** Mirror left–right with probability ½. */
  horizontalFlip: boolean;
  /** Changes of colour and framing, applied after the geometric transform; none when absent. */
  appearance?: AppearanceSettings;
}

/**
 * Beyond the tutorial's generator: the lighting and colour of other cameras, and faces whose photo ends close to
 * the face, so the crop's margin (hair, neck) is black. Tight face photos are common outside CelebA, and the model
 * must not need the hair to tell.
 */
export interface AppearanceSettings {
  /** Pixel values are multiplied by a factor ~ U(1 − r, 1 + r). */
  brightness: number;
  /** Distance from the image's mean is scaled by ~ U(1 − r, 1 + r). */
  contrast: number;
  /** Distance from each pixel's grey is scaled by ~ U(1 − r, 1 + r). */
  saturation: number;
  /** Share of images turned grey. */
  grayscale: number;
  /** Share of images whose photo ends inside the crop: each side is then cut with probability ½. */
  frameCut: number;
  /** Largest cut per side, as a fraction of the crop (the face box leaves about 1/6 of margin per side). */
  frameCutMax: number;
  /** Faces seen from afar: the crop's detail cut down to a smaller source, as a far face in a camera frame. */
  lowRes?: LowResSettings;
  /** Part of the face hidden, as by a hand, a phone or another head. */
  erase?: EraseSettings;
  /** A near face out of focus or moving. */
  blur?: BlurSettings;
}

/**
 * Random erasing (Zhong et al., 2020): a rectangle of the crop filled with one grey, so that no single part of the
 * face (the mouth, one eye, the hairline) decides alone. A regulariser for a model that fits its training faces
 * better than it generalises.
 */
export interface EraseSettings {
  /** Share of images with a rectangle erased. */
  share: number;
  /** The rectangle's area ~ U(min, max), as a fraction of the crop's. */
  minArea: number;
  maxArea: number;
  /** Its height over its width, log-uniform in [1/maxAspect, maxAspect]. */
  maxAspect: number;
}

/**
 * A face 32 px wide in the camera frame reaches the classifier as a 64×64 crop cut from about 42 source pixels
 * (crop scale 1.3), so it is blurrier than any CelebA or FairFace crop. The crop is shrunk to `width` pixels and
 * enlarged back, as the app enlarges a small face, with sensor noise on top.
 */
export interface LowResSettings {
  /** Share of images made low-resolution. */
  share: number;
  /** Source width ~ U(min, max) in pixels, for a 64-px crop. */
  minWidth: number;
  maxWidth: number;
  /** Largest standard deviation of the added Gaussian noise, on 0–255 values; each image draws σ ~ U(0, noise). */
  noise: number;
}

/**
 * A face out of focus or moving: the whole crop blurred by a Gaussian. `lowRes` blurs far faces by the few pixels a
 * camera gives them; a near face can be as blurred by its lens or its motion, and the classifier then calls men
 * women (docs/experiments.md §46).
 */
export interface BlurSettings {
  /** Share of images blurred. */
  share: number;
  /** σ ~ U(min, max), in pixels of a 64-px crop; other crop sizes scale it. */
  minSigma: number;
  maxSigma: number;
}

/** The tutorial's generator: rotation 40, shifts 0.2, shear 0.2, zoom 0.2, horizontal flip, nearest fill. */
export const DEFAULT_AUGMENT: AugmentSettings = {
  rotationRange: 40,
  widthShiftRange: 0.2,
  heightShiftRange: 0.2,
  shearRange: 0.2,
  zoomRange: 0.2,
  horizontalFlip: true,
};

/**
 * A milder generator for face crops that BlazeFace has already centred and sized: the same kinds of transform, a
 * third of the rotation and half the shift and zoom, so fewer augmented crops are mostly smeared fill.
 */
export const LIGHT_AUGMENT: AugmentSettings = {
  rotationRange: 15,
  widthShiftRange: 0.1,
  heightShiftRange: 0.1,
  shearRange: 0.2,
  zoomRange: 0.1,
  horizontalFlip: true,
};

/** `light`, plus lighting and colour changes and crops cut by the photo's edge. */
export const ROBUST_AUGMENT: AugmentSettings = {
  ...LIGHT_AUGMENT,
  appearance: { brightness: 0.3, contrast: 0.3, saturation: 0.4, grayscale: 0.05, frameCut: 0.4, frameCutMax: 0.2 },
};

/** `robust`, plus faces from afar: 40 % of crops cut from a source 20 to 56 px wide (faces of about 15 to 43 px). */
export const FAR_AUGMENT: AugmentSettings = {
  ...ROBUST_AUGMENT,
  appearance: { ...ROBUST_AUGMENT.appearance!, lowRes: { share: 0.4, minWidth: 20, maxWidth: 56, noise: 8 } },
};

/** `far`, plus random erasing of half the crops: rectangles of 2 to 20 % of the crop, aspect up to 3:1. */
export const ERASE_AUGMENT: AugmentSettings = {
  ...FAR_AUGMENT,
  appearance: { ...FAR_AUGMENT.appearance!, erase: { share: 0.5, minArea: 0.02, maxArea: 0.2, maxAspect: 3 } },
};

/**
 * `light`, plus 3 in 10 crops blurred by a Gaussian of σ 0.5–2.5 px (§46's blurred photos: about 2 px): for the last
 * epochs of a fine-tune, where `light` did best (§45), without the appearance changes the model has already learnt.
 */
export const BLUR_AUGMENT: AugmentSettings = {
  ...LIGHT_AUGMENT,
  appearance: {
    brightness: 0,
    contrast: 0,
    saturation: 0,
    grayscale: 0,
    frameCut: 0,
    frameCutMax: 0,
    blur: { share: 0.3, minSigma: 0.5, maxSigma: 2.5 },
  },
};

export const AUGMENT_PRESETS = {
  tutorial: DEFAULT_AUGMENT,
  light: LIGHT_AUGMENT,
  robust: ROBUST_AUGMENT,
  far: FAR_AUGMENT,
  erase: ERASE_AUGMENT,
  blur: BLUR_AUGMENT,
} as const;

/** One image's transform. Size-free, so the same draw applies to any resolution. */
export interface AugmentParams {
  /** Rotation in degrees. */
  theta: number;
  /** Horizontal shift as a fraction of the width: output pixel x samples input x + tx·width. */
  tx: number;
  /** Vertical shift as a fraction of the height: output pixel y samples input y + ty·height. */
  ty: number;
  /** Shear angle in degrees. */
  shear: number;
  /** Horizontal zoom factor: output offset d from the centre samples input offset zx·d. */
  zx: number;
  /** Vertical zoom factor. */
  zy: number;
  /** Mirror left–right, applied after the affine part as Keras does. */
  flip: boolean;
}

export const IDENTITY_PARAMS: AugmentParams = { theta: 0, tx: 0, ty: 0, shear: 0, zx: 1, zy: 1, flip: false };

/** Small, fast seeded PRNG (Mulberry32) returning floats in [0, 1), so augmented runs can be repeated exactly. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller); `1 - rng()` keeps the logarithm's argument in (0, 1]. */
export function sampleNormal(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/** A Gamma(shape, 1) draw: Marsaglia and Tsang's method, boosted by U^(1/shape) for shapes below 1. */
function gamma(rng: () => number, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(1 - rng(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = sampleNormal(rng);
    const v = (1 + c * z) ** 3;
    if (v <= 0) continue;
    if (Math.log(1 - rng()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A Beta(α, α) draw, as mixup weighs two images (Zhang et al., 2018): near 0 or 1 for small α, 0.5 on average. */
export function sampleBeta(rng: () => number, alpha: number): number {
  const a = gamma(rng, alpha);
  return a / (a + gamma(rng, alpha));
}

function uniform(rng: () => number, range: number): number {
  return (2 * rng() - 1) * range;
}

export function sampleAugmentation(rng: () => number, settings: AugmentSettings = DEFAULT_AUGMENT): AugmentParams {
  return {
    theta: uniform(rng, settings.rotationRange),
    tx: uniform(rng, settings.widthShiftRange),
    ty: uniform(rng, settings.heightShiftRange),
    shear: uniform(rng, settings.shearRange),
    zx: 1 + uniform(rng, settings.zoomRange),
    zy: 1 + uniform(rng, settings.zoomRange),
    flip: settings.horizontalFlip && rng() < 0.5,
  };
}

type Mat3 = number[];

function mul(a: Mat3, b: Mat3): Mat3 {
  const out = new Array<number>(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      out[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
    }
  }
  return out;
}

/**
 * The 3×3 row-major matrix taking OUTPUT pixel coordinates (x, y) to the INPUT coordinates they sample. Pixel
 * (i, j) has its centre at (i, j), as in `tf.image.transform` and scipy, so the centre is ((w − 1)/2, (h − 1)/2)
 * exactly as in Keras's `transform_matrix_offset_center`, and a flip maps x to w − 1 − x.
 *
 * Composed as Keras does, rotation · shift · shear · zoom about the centre, then the flip (which Keras applies
 * to the transformed image, so it acts on output coordinates first).
 */
export function affineMatrix(params: AugmentParams, width: number, height: number): number[] {
  const t = (params.theta * Math.PI) / 180;
  const s = (params.shear * Math.PI) / 180;
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const rotation = [Math.cos(t), Math.sin(t), 0, -Math.sin(t), Math.cos(t), 0, 0, 0, 1];
  const shift = [1, 0, params.tx * width, 0, 1, params.ty * height, 0, 0, 1];
  const shear = [Math.cos(s), 0, 0, -Math.sin(s), 1, 0, 0, 0, 1];
  const zoom = [params.zx, 0, 0, 0, params.zy, 0, 0, 0, 1];
  const flip = [params.flip ? -1 : 1, 0, 0, 0, 1, 0, 0, 0, 1];
  const toCentre = [1, 0, -cx, 0, 1, -cy, 0, 0, 1];
  const fromCentre = [1, 0, cx, 0, 1, cy, 0, 0, 1];
  return [fromCentre, rotation, shift, shear, zoom, flip, toCentre].reduce(mul);
}

/** A projective 3×3 matrix as the `[a0, a1, a2, b0, b1, b2, c0, c1]` row `tf.image.transform` expects. */
export function toTransformVector(matrix: number[]): [number, number, number, number, number, number, number, number] {
  const k = matrix[8];
  const [a0, a1, a2, b0, b1, b2, c0, c1] = matrix.map((v) => v / k);
  return [a0, a1, a2, b0, b1, b2, c0, c1];
}

/** One image's colour and framing change. */
export interface AppearanceParams {
  brightness: number;
  contrast: number;
  /** 0 turns the image grey. */
  saturation: number;
  /** Fractions of the crop blacked out from each side, as where the photo ends. */
  cut: { left: number; right: number; top: number; bottom: number };
  /** Seen from afar; absent at full resolution. */
  lowRes?: LowResParams;
  /** A rectangle filled with one grey; absent when nothing is erased. */
  erase?: EraseParams;
  /** The Gaussian's σ in pixels of a 64-px crop; absent when sharp. */
  blur?: number;
}

/** A rectangle in fractions of the crop (so any crop size takes the same draw), and its grey on 0–255. */
export interface EraseParams {
  x: number;
  y: number;
  width: number;
  height: number;
  grey: number;
}

export interface LowResParams {
  /** Source width in pixels of a 64-px-wide crop; other crop sizes scale it. */
  width: number;
  /** Standard deviation of the Gaussian noise on 0–255 values. */
  noise: number;
  /** Seed of the noise, so that an image gets the same noise in whichever thread augments it. */
  seed: number;
}

export const IDENTITY_APPEARANCE: AppearanceParams = {
  brightness: 1,
  contrast: 1,
  saturation: 1,
  cut: { left: 0, right: 0, top: 0, bottom: 0 },
};

export function sampleAppearance(rng: () => number, settings: AppearanceSettings): AppearanceParams {
  const grey = rng() < settings.grayscale;
  const framed = rng() < settings.frameCut;
  const side = (): number => (framed && rng() < 0.5 ? rng() * settings.frameCutMax : 0);
  const params: AppearanceParams = {
    brightness: 1 + uniform(rng, settings.brightness),
    contrast: 1 + uniform(rng, settings.contrast),
    saturation: grey ? 0 : 1 + uniform(rng, settings.saturation),
    cut: { left: side(), right: side(), top: side(), bottom: side() },
  };
  // Drawn last and only when asked for, so that presets without it keep the random streams they had.
  const far = settings.lowRes;
  if (far && rng() < far.share) {
    params.lowRes = {
      width: far.minWidth + rng() * (far.maxWidth - far.minWidth),
      noise: rng() * far.noise,
      seed: Math.floor(rng() * 2 ** 31),
    };
  }
  const erase = settings.erase;
  if (erase && rng() < erase.share) params.erase = sampleErase(rng, erase);
  const blur = settings.blur;
  if (blur && rng() < blur.share) params.blur = blur.minSigma + rng() * (blur.maxSigma - blur.minSigma);
  return params;
}

/** A normalised 1-D Gaussian of standard deviation `sigma`, 2⌈3σ⌉ + 1 taps wide. */
export function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.ceil(3 * sigma);
  const taps = Float32Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma ** 2)),
  );
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

function sampleErase(rng: () => number, settings: EraseSettings): EraseParams {
  const area = settings.minArea + rng() * (settings.maxArea - settings.minArea);
  const aspect = Math.exp(uniform(rng, Math.log(settings.maxAspect)));
  const width = Math.min(1, Math.sqrt(area / aspect));
  const height = Math.min(1, Math.sqrt(area * aspect));
  return { x: rng() * (1 - width), y: rng() * (1 - height), width, height, grey: rng() * 255 };
}

/** A [height·width] mask, 0 inside the erased rectangle and 1 elsewhere (row-major). */
export function eraseMask(erase: EraseParams, width: number, height: number): Float32Array {
  const mask = new Float32Array(width * height).fill(1);
  const x0 = Math.round(erase.x * width);
  const x1 = Math.round((erase.x + erase.width) * width);
  const y0 = Math.round(erase.y * height);
  const y1 = Math.round((erase.y + erase.height) * height);
  for (let y = y0; y < y1; y++) mask.fill(0, y * width + x0, y * width + Math.max(x0, x1));
  return mask;
}

/** A [height·width] mask, 1 inside the photo and 0 where `cut` blacks it out (row-major). */
export function frameMask(cut: AppearanceParams['cut'], width: number, height: number): Float32Array {
  const mask = new Float32Array(width * height);
  const x0 = Math.round(cut.left * width);
  const x1 = width - Math.round(cut.right * width);
  const y0 = Math.round(cut.top * height);
  const y1 = height - Math.round(cut.bottom * height);
  for (let y = y0; y < y1; y++) mask.fill(1, y * width + x0, y * width + Math.max(x0, x1));
  return mask;
}
