import * as blazeface from '@tensorflow-models/blazeface';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { asFloat32 } from './crop';
import {
  anchorCentres,
  decodeFaces,
  FULL_RANGE_ANCHORS,
  SHORT_RANGE_ANCHORS,
  suppressOverlaps,
  VALUES_PER_ANCHOR,
  type AnchorGrid,
} from '../core/face-anchors';
import {
  addHeld,
  cycledViews,
  fromView,
  oneBoxPerFace,
  pickRefinement,
  refineView,
  stillViews,
  toShortRangeBox,
  ViewCycle,
} from '../core/face-views';
import {
  fromSquare,
  letterboxSquare,
  scaleBox,
  toNormalizedBox,
  type Box,
  type NormalizedBox,
  type Point,
} from '../core/geometry';

export interface DetectedFace {
  box: Box;
  score: number;
  /** Six keypoints: right eye, left eye, nose, mouth, right ear, left ear (image pixels). */
  landmarks: Point[];
}

export interface DetectOptions {
  /**
   * The image is a photo, not a video frame: every view of the far-face model is looked at at once, the
   * short-range model looks too, and when no face is found the short-range model looks again with a border around
   * the photo (`stillRetries`), so that a face filling a tight photo has the room around it BlazeFace expects.
   * Too slow to do on every frame.
   */
  still?: boolean;
}

export interface FaceDetector {
  /**
   * Faces in an RGB image tensor [height, width, 3], highest score first. Video frames (not `still`) are taken as
   * one stream: each reports what was found in the views looked at in the few frames before (see ViewCycle).
   */
  detect(image: tf.Tensor3D, options?: DetectOptions): Promise<DetectedFace[]>;
  /**
   * Runs a blank video frame of this size through each batch a live frame can run (the whole frame, the frame with
   * a view, a small face looked at again), so that their kernels (shaders on WebGL) compile now, not on a live frame.
   */
  warmUp(width: number, height: number): Promise<void>;
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

/**
 * How a face the full-range model found is looked at again by the short-range model: only a face whose box's longer
 * side is under `maxSide` image pixels, in a square `scale` times its size, where a face of `scoreThreshold` or more
 * that overlaps it gives the box.
 */
export interface Refinement {
  scale: number;
  scoreThreshold: number;
  maxSide: number;
}

export interface DetectorOptions {
  /** Most faces the short-range model reports; the full-range model has no cap (a crowd has more). */
  maxFaces: number;
  /** The short-range model's least score. */
  scoreThreshold: number;
  /** Non-maximum suppression for both models: boxes overlapping more than this are one face. */
  iouThreshold: number;
  /**
   * The full-range model's least score. MediaPipe uses 0.6 for it; at 0.5 it finds 2 more of the 144 scene faces
   * (`npm run evaluate:detector`) and no more false ones.
   */
  farScoreThreshold: number;
  /** How stills are looked at again when no face is found, in order until one finds a face; [] never retries. */
  stillRetries: BorderRetry[];
  /**
   * Live frames look at one of the far-face views (tiles, bordered frame) on one frame in this many, besides the
   * whole frame on every frame. Far faces are small and move few pixels, so their boxes can be held longer.
   */
  viewEvery: number;
  /**
   * Faces the full-range model finds are looked at again by the short-range model, whose boxes the classifier was
   * trained on; null keeps the full-range boxes (moved to the short-range convention on average, toShortRangeBox).
   */
  refine: Refinement | null;
}

/** The retries were chosen on validation data: docs/experiments.md, "The border retry for stills". */
export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = {
  maxFaces: 10,
  scoreThreshold: 0.75,
  iouThreshold: 0.3,
  farScoreThreshold: 0.5,
  stillRetries: [
    { scale: 2, fill: 'mean', scoreThreshold: 0.6 },
    { scale: 1.5, fill: 'mean', scoreThreshold: 0.6 },
  ],
  viewEvery: 3,
  // docs/experiments.md, "Far faces looked at again by the short-range model": small faces get boxes that fit and
  // better labels frame by frame, larger ones lost a point or two, so it stops where the 64-px crop (1.3× the box)
  // is no longer upscaled.
  refine: { scale: 2, scoreThreshold: 0.5, maxSide: 48 },
};

/** The short-range model's fixed input side. */
const INPUT_SIZE = SHORT_RANGE_ANCHORS.inputSize;

/** The full-range model's fixed input side. */
const FAR_INPUT_SIZE = FULL_RANGE_ANCHORS.inputSize;

/** One of MediaPipe's face detectors as a graph, with its input side, its anchors and the output of its face head. */
interface MediaPipeNet {
  graph: GraphModel;
  inputSize: number;
  anchors: Point[];
  output: string;
}

function mediaPipeNet(graph: GraphModel, grid: AnchorGrid, output: string): MediaPipeNet {
  return { graph, inputSize: grid.inputSize, anchors: anchorCentres(grid), output };
}

/**
 * A live frame this long after the previous one starts a new video (another camera, a tab shown again): the faces
 * held from before are forgotten.
 */
const NEW_VIDEO_GAP_MS = 1000;

/** Where each model comes from: a URL (the app) or an IOHandler (Node reads the files itself). */
export interface BlazeFaceModels {
  /** MediaPipe's short-range face detector (facemesh-detection-short.json). */
  shortRange: string | tf.io.IOHandler;
  /** MediaPipe's full-range face detector (facemesh-detection-full.json), which also finds far faces. */
  fullRange: string | tf.io.IOHandler;
}

/** The file names of both models under public/models/blazeface/. */
export const BLAZEFACE_FILES = {
  shortRange: 'facemesh-detection-short.json',
  fullRange: 'facemesh-detection-full.json',
} as const;

/**
 * Loads the face detector: MediaPipe's full-range model finds faces near and far, on the whole frame and on tiles
 * of it (src/core/face-views.ts), and the short-range model looks at each face again for its box; for stills the
 * short-range model looks at the whole image first, and again with a border when nothing is found.
 */
export async function loadBlazeFace(
  models: BlazeFaceModels,
  options: Partial<DetectorOptions> = {},
): Promise<FaceDetector> {
  const opts = { ...DEFAULT_DETECTOR_OPTIONS, ...options };
  const [nearGraph, farGraph] = await Promise.all([
    loadGraphModel(models.shortRange),
    loadGraphModel(models.fullRange),
  ]);
  // One short-range graph serves both the stills' pass through @tensorflow-models/blazeface, whose boxes the
  // classifier was trained on, and the batched refinement of far faces.
  const model = new blazeface.BlazeFaceModel(
    nearGraph,
    INPUT_SIZE,
    INPUT_SIZE,
    opts.maxFaces,
    opts.iouThreshold,
    // The model keeps what either pass may use; the plain pass filters to its own threshold. Greedy non-maximum
    // suppression never lets a lower-scored box remove a higher one, so that filter gives what a model loaded at
    // the higher threshold would.
    Math.min(opts.scoreThreshold, ...opts.stillRetries.map((r) => r.scoreThreshold)),
  );
  // Identity:0 is the full-range model's face head (its conversion also carries an unused person head).
  const farNet = mediaPipeNet(farGraph, FULL_RANGE_ANCHORS, 'Identity:0');
  const nearNet = mediaPipeNet(nearGraph, SHORT_RANGE_ANCHORS, 'Identity');
  const cycle = new ViewCycle<DetectedFace>(NEW_VIDEO_GAP_MS, opts.viewEvery);

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

  /**
   * The faces `net` finds in each of `views` (squares of the image, in its pixels; black beyond it) scoring
   * `minScore` or more, all resampled into one batch and run at once; boxes in the model's own convention.
   */
  async function detectInViews(
    net: MediaPipeNet,
    image: tf.Tensor3D,
    views: readonly Box[],
    minScore: number,
  ): Promise<DetectedFace[][]> {
    const [height, width] = image.shape;
    const output = tf.tidy(() => {
      const boxes: NormalizedBox[] = views.map((v) => toNormalizedBox(v, width, height));
      const resampled = tf.image.cropAndResize(
        tf.expandDims(asFloat32(image), 0) as tf.Tensor4D,
        boxes,
        views.map(() => 0),
        [net.inputSize, net.inputSize],
      );
      // Both models take pixels scaled to [-1, 1].
      return net.graph.execute(tf.sub(tf.div(resampled, 127.5), 1), net.output) as tf.Tensor3D;
    });
    let raw: Float32Array;
    try {
      raw = (await output.data()) as Float32Array;
    } finally {
      output.dispose();
    }
    const perView = net.anchors.length * VALUES_PER_ANCHOR;
    return views.map((view, i) =>
      decodeFaces(raw, net.anchors, net.inputSize, minScore, i * perView).map((f) => {
        const [x1, y1] = fromView([f.box.x, f.box.y], view, net.inputSize);
        const [x2, y2] = fromView([f.box.x + f.box.width, f.box.y + f.box.height], view, net.inputSize);
        return {
          box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 },
          score: f.score,
          landmarks: f.keypoints.map((p) => fromView(p, view, net.inputSize)),
        };
      }),
    );
  }

  /** The full-range model's faces in each of `views`, boxes moved to the short-range convention on average. */
  async function detectFar(image: tf.Tensor3D, views: readonly Box[]): Promise<DetectedFace[][]> {
    const found = await detectInViews(farNet, image, views, opts.farScoreThreshold);
    return found.map((faces) => faces.map((f) => ({ ...f, box: toShortRangeBox(f.box) })));
  }

  /**
   * Small far faces looked at again, all in one batch, each in its refineView by the short-range model: a face that
   * model confirms takes its box, the box the classifier's training crops were cut from; the others, and larger
   * faces, keep theirs. Returns what each of `faces` becomes.
   */
  async function refine(
    image: tf.Tensor3D,
    faces: readonly DetectedFace[],
  ): Promise<(face: DetectedFace) => DetectedFace> {
    const { refine: how, iouThreshold } = opts;
    if (!how) return (face) => face;
    const unique = [...new Set(faces)].filter((f) => Math.max(f.box.width, f.box.height) < how.maxSide);
    if (unique.length === 0) return (face) => face;
    const views = unique.map((f) => refineView(f.box, how.scale));
    const nearFaces = await detectInViews(nearNet, image, views, how.scoreThreshold);
    const refined = new Map(
      unique.map((face, i) => {
        const confirmed = pickRefinement(face.box, nearFaces[i], iouThreshold);
        return [face, confirmed ? { ...confirmed, score: face.score } : face];
      }),
    );
    return (face) => refined.get(face) ?? face;
  }

  const byScore = (faces: DetectedFace[]) => faces.sort((a, b) => b.score - a.score);

  /**
   * A video frame: the whole frame, and on some frames one cycled view, with what the cycled views found when they
   * were last looked at.
   */
  async function detectLive(image: tf.Tensor3D): Promise<DetectedFace[]> {
    const [height, width] = image.shape;
    const turn = cycle.take(width, height, FAR_INPUT_SIZE, performance.now());
    const whole = letterboxSquare(width, height);
    const [wholeFaces, cycled = []] = await detectFar(image, turn ? [whole, turn.view] : [whole]);
    const fresh = oneBoxPerFace([...wholeFaces, ...cycled], opts.iouThreshold);
    const found = turn ? oneBoxPerFace(cycled, opts.iouThreshold) : [];
    // A face the cycled view found is usually fresh too: it is refined once.
    const refined = await refine(image, [...fresh, ...found]);
    const held = turn ? cycle.swap(turn.index, found.map(refined)) : cycle.held();
    return byScore(addHeld(fresh.map(refined), held, opts.iouThreshold));
  }

  /**
   * A still: the short-range model as before (the classifier was trained on its boxes), with its border retries
   * when it finds nothing, then the full-range model's faces on every view, refined, where the short-range model
   * found none.
   */
  async function detectStill(image: tf.Tensor3D): Promise<DetectedFace[]> {
    const [height, width] = image.shape;
    const near = await detectNear(image);
    const far = (await detectFar(image, stillViews(width, height, FAR_INPUT_SIZE))).flat();
    const kept = suppressOverlaps(far, opts.iouThreshold, near).slice(near.length);
    return byScore([...near, ...kept.map(await refine(image, kept))]);
  }

  /** The short-range model on a still, looking again with a border while it finds nothing. */
  async function detectNear(image: tf.Tensor3D): Promise<DetectedFace[]> {
    const [height, width] = image.shape;
    const square = letterboxSquare(width, height);
    const faces = (await detectIn(image, square, 'black')).filter((f) => f.score >= opts.scoreThreshold);
    if (faces.length > 0) return faces;
    for (const retry of opts.stillRetries) {
      const again = await detectIn(image, scaleBox(square, retry.scale), retry.fill);
      const kept = again.filter((f) => f.score >= retry.scoreThreshold);
      if (kept.length > 0) return kept;
    }
    return [];
  }

  async function warmUp(width: number, height: number): Promise<void> {
    const blank = tf.zeros([height, width, 3], 'float32') as tf.Tensor3D;
    const whole = letterboxSquare(width, height);
    const [view] = cycledViews(width, height, FAR_INPUT_SIZE);
    try {
      await detectInViews(farNet, blank, [whole], opts.farScoreThreshold);
      if (view) await detectInViews(farNet, blank, [whole, view], opts.farScoreThreshold);
      if (opts.refine) {
        const small = { x: width / 2, y: height / 2, width: opts.refine.maxSide / 2, height: opts.refine.maxSide / 2 };
        await detectInViews(nearNet, blank, [refineView(small, opts.refine.scale)], opts.refine.scoreThreshold);
      }
    } finally {
      blank.dispose();
    }
  }

  return {
    detect: (image, { still = false } = {}) => (still ? detectStill(image) : detectLive(image)),
    warmUp,
    dispose() {
      model.dispose();
      farGraph.dispose();
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
