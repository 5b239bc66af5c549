/**
 * MediaPipe's face detectors as pure calculators: the SSD anchor grid they predict relative to, and the decoding of
 * their raw output into scored boxes with six keypoints, and non-maximum suppression. The tfjs side
 * (src/vision/detector.ts) only runs the model and hands its output here.
 */
import { iou, type Box, type Point } from './geometry';

/**
 * The options of MediaPipe's SsdAnchorsCalculator that its face detectors use, all anchors of fixed size (1×1 of
 * the input: the model's box regression is absolute, so only the centres matter).
 */
export interface AnchorGrid {
  /** The model's square input side, in pixels. */
  inputSize: number;
  /** One per layer; consecutive layers of the same stride share one grid of cells. */
  strides: number[];
  /**
   * When above 0, each layer adds one anchor per cell (the interpolated scale); the short-range model has 1, the
   * full-range model 0.
   */
  interpolatedScaleAspectRatio: number;
}

/** MediaPipe face_detection_full_range: 192×192, 2,304 anchors, one per 4-pixel cell. */
export const FULL_RANGE_ANCHORS: AnchorGrid = {
  inputSize: 192,
  strides: [4],
  interpolatedScaleAspectRatio: 0,
};

/** MediaPipe face_detection_short_range (BlazeFace): 128×128, 896 anchors, 2 per 8-pixel cell and 6 per 16-pixel cell. */
export const SHORT_RANGE_ANCHORS: AnchorGrid = {
  inputSize: 128,
  strides: [8, 16, 16, 16],
  interpolatedScaleAspectRatio: 1,
};

/** The anchors' centres, as fractions of the input, in the order of the model's output rows. */
export function anchorCentres(grid: AnchorGrid): Point[] {
  const centres: Point[] = [];
  const perLayer = grid.interpolatedScaleAspectRatio > 0 ? 2 : 1;
  for (let layer = 0; layer < grid.strides.length;) {
    const stride = grid.strides[layer];
    let repeat = 0;
    while (layer < grid.strides.length && grid.strides[layer] === stride) {
      repeat += perLayer;
      layer++;
    }
    const cells = Math.ceil(grid.inputSize / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let n = 0; n < repeat; n++) centres.push([(x + 0.5) / cells, (y + 0.5) / cells]);
      }
    }
  }
  return centres;
}

/** A face as the model sees it, in pixels of its input. */
export interface RawFace {
  box: Box;
  score: number;
  /** Right eye, left eye, nose tip, mouth, right ear tragion, left ear tragion (as seen in the image). */
  keypoints: Point[];
}

/** Values per anchor in the model's output: a logit, the box (centre x, y, width, height), six keypoints. */
export const VALUES_PER_ANCHOR = 17;

/** MediaPipe clips logits to ±100 before the sigmoid. */
const LOGIT_CLIP = 100;

/**
 * The faces scoring `minScore` or more in one input's raw output, `anchors.length` rows of `VALUES_PER_ANCHOR` values from `offset`
 * on: a logit, then the box's centre, width and height and six keypoints, in input pixels, centres and keypoints
 * relative to the anchor's centre.
 */
export function decodeFaces(
  raw: ArrayLike<number>,
  anchors: readonly Point[],
  inputSize: number,
  minScore: number,
  offset = 0,
): RawFace[] {
  const faces: RawFace[] = [];
  // Compare logits, not probabilities: the sigmoid runs only for the few rows that pass.
  const minLogit = Math.log(minScore / (1 - minScore));
  anchors.forEach(([ax, ay], i) => {
    const row = offset + i * VALUES_PER_ANCHOR;
    const logit = Math.max(-LOGIT_CLIP, Math.min(LOGIT_CLIP, raw[row]));
    if (logit < minLogit) return;
    const cx = ax * inputSize + raw[row + 1];
    const cy = ay * inputSize + raw[row + 2];
    const width = raw[row + 3];
    const height = raw[row + 4];
    if (!(width > 0 && height > 0)) return;
    const keypoints: Point[] = [];
    for (let k = 0; k < 6; k++) {
      keypoints.push([ax * inputSize + raw[row + 5 + 2 * k], ay * inputSize + raw[row + 6 + 2 * k]]);
    }
    faces.push({
      box: { x: cx - width / 2, y: cy - height / 2, width, height },
      score: 1 / (1 + Math.exp(-logit)),
      keypoints,
    });
  });
  return faces;
}

/**
 * Greedy non-maximum suppression: highest score first, a face is dropped when it overlaps one already kept by more
 * than `maxIou`. Faces in `kept` stay whatever their score and suppress the others (a more trusted source).
 */
export function suppressOverlaps<T extends { box: Box; score: number }>(
  faces: readonly T[],
  maxIou: number,
  kept: readonly T[] = [],
): T[] {
  const out = [...kept];
  for (const face of [...faces].sort((a, b) => b.score - a.score)) {
    if (out.every((k) => iou(k.box, face.box) <= maxIou)) out.push(face);
  }
  return out;
}
