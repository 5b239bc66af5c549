import * as blazeface from '@tensorflow-models/blazeface';
import * as tf from '@tensorflow/tfjs-core';
import { asFloat32 } from './crop';
import { fromSquare, letterboxSquare, scaleBox, toNormalizedBox, type Box, type Point } from '../core/geometry';

export interface DetectedFace {
  box: Box;
  score: number;
  /** BlazeFace's six keypoints: right eye, left eye, nose, mouth, right ear, left ear (image pixels). */
  landmarks: Point[];
}

export interface DetectOptions {
  /**
   * The image is a photo, not a video frame: when no face is found, look again with a border around it
   * (`stillRetries`), so that a face filling a tight photo has the room around it BlazeFace expects. Too slow to
   * do on every frame.
   */
  still?: boolean;
}

export interface FaceDetector {
  /** Faces in an RGB image tensor [height, width, 3], highest score first. */
  detect(image: tf.Tensor3D, options?: DetectOptions): Promise<DetectedFace[]>;
  dispose(): void;
}

/** What fills the border: black, the image's mean colour, or its edge pixels repeated outwards. */
export type BorderFill = 'black' | 'mean' | 'edge';

/**
 * The retry for stills: the letterboxed square grown `scale` times about its centre, the border filled `fill`, and
 * faces kept from `scoreThreshold` up (a still with no face at the usual threshold most likely holds one that fills
 * it, so the retry may accept a less certain detection).
 */
export interface BorderRetry {
  scale: number;
  fill: BorderFill;
  scoreThreshold: number;
}

export interface DetectorOptions {
  maxFaces: number;
  scoreThreshold: number;
  iouThreshold: number;
  /** How stills are looked at again when no face is found, in order until one finds a face; [] never retries. */
  stillRetries: BorderRetry[];
}

/** The retries were chosen on validation data: docs/experiments.md, "The border retry for stills". */
export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = {
  maxFaces: 10,
  scoreThreshold: 0.75,
  iouThreshold: 0.3,
  stillRetries: [
    { scale: 2, fill: 'mean', scoreThreshold: 0.6 },
    { scale: 1.5, fill: 'mean', scoreThreshold: 0.6 },
  ],
};

/** BlazeFace's fixed input side. */
const INPUT_SIZE = 128;

/** Loads BlazeFace from a URL (the app) or an IOHandler (Node reads the files itself). */
export async function loadBlazeFace(
  source: string | tf.io.IOHandler,
  options: Partial<DetectorOptions> = {},
): Promise<FaceDetector> {
  const opts = { ...DEFAULT_DETECTOR_OPTIONS, ...options };
  const model = await blazeface.load({
    modelUrl: source,
    maxFaces: opts.maxFaces,
    // The model keeps what either pass may use; the plain pass filters to its own threshold. Greedy non-maximum
    // suppression never lets a lower-scored box remove a higher one, so that filter gives what a model loaded at
    // the higher threshold would.
    scoreThreshold: Math.min(opts.scoreThreshold, ...opts.stillRetries.map((r) => r.scoreThreshold)),
    iouThreshold: opts.iouThreshold,
    inputWidth: INPUT_SIZE,
    inputHeight: INPUT_SIZE,
  });
  /** Faces found in `square` (a region of the image, in its pixels) with what lies outside the image `fill`ed. */
  async function detectIn(image: tf.Tensor3D, square: Box, fill: BorderFill): Promise<DetectedFace[]> {
    const [height, width] = image.shape;
    // One resample to the 128×128 input; BlazeFace's own resize then is a no-op.
    const input = tf.tidy(() => {
      let source = asFloat32(image);
      let region = square;
      let [h, w] = [height, width];
      if (fill === 'edge') {
        const pad = Math.ceil(Math.max(0, -square.x, -square.y));
        source = replicateEdges(source, pad);
        region = { ...square, x: square.x + pad, y: square.y + pad };
        [h, w] = [height + 2 * pad, width + 2 * pad];
      }
      // cropAndResize fills outside the image with 0: shifting the pixels by their mean makes that the mean colour.
      const mean = fill === 'mean' ? tf.mean(source, [0, 1]) : null;
      const resampled = tf.image.cropAndResize(
        tf.expandDims(mean ? tf.sub(source, mean) : source, 0) as tf.Tensor4D,
        [toNormalizedBox(region, w, h)],
        [0],
        [INPUT_SIZE, INPUT_SIZE],
      );
      return tf.squeeze(mean ? tf.add(resampled, mean) : resampled, [0]);
    }) as tf.Tensor3D;
    let faces: blazeface.NormalizedFace[];
    try {
      faces = await model.estimateFaces(input, false, false, true);
    } finally {
      input.dispose();
    }
    return faces
      .map((f) => {
        const [x1, y1] = fromSquare(f.topLeft as Point, square, INPUT_SIZE);
        const [x2, y2] = fromSquare(f.bottomRight as Point, square, INPUT_SIZE);
        return {
          box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 },
          // With returnTensors = false, 0.1.0 returns the probability as a one-element array despite its typing.
          score: (f.probability as unknown as number[])[0],
          landmarks: (f.landmarks as number[][]).map((p) => fromSquare(p as Point, square, INPUT_SIZE)),
        };
      })
      .sort((a, b) => b.score - a.score);
  }

  return {
    async detect(image, { still = false } = {}) {
      const [height, width] = image.shape;
      const square = letterboxSquare(width, height);
      const faces = (await detectIn(image, square, 'black')).filter((f) => f.score >= opts.scoreThreshold);
      if (faces.length > 0 || !still) return faces;
      for (const retry of opts.stillRetries) {
        const again = await detectIn(image, scaleBox(square, retry.scale), retry.fill);
        const kept = again.filter((f) => f.score >= retry.scoreThreshold);
        if (kept.length > 0) return kept;
      }
      return [];
    },
    dispose() {
      model.dispose();
    },
  };
}

/** The image with `pad` pixels added on every side, each a copy of the nearest edge pixel. */
function replicateEdges(image: tf.Tensor3D, pad: number): tf.Tensor3D {
  if (pad === 0) return image;
  const [height, width] = image.shape;
  const clamped = (n: number) => Array.from({ length: n + 2 * pad }, (_, i) => Math.min(n - 1, Math.max(0, i - pad)));
  return tf.gather(tf.gather(image, clamped(height), 0), clamped(width), 1);
}
