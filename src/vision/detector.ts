import * as blazeface from '@tensorflow-models/blazeface';
import * as tf from '@tensorflow/tfjs-core';
import { asFloat32 } from './crop';
import { fromSquare, letterboxSquare, toNormalizedBox, type Box, type Point } from '../core/geometry';

export interface DetectedFace {
  box: Box;
  score: number;
  /** BlazeFace's six keypoints: right eye, left eye, nose, mouth, right ear, left ear (image pixels). */
  landmarks: Point[];
}

export interface FaceDetector {
  /** Faces in an RGB image tensor [height, width, 3], highest score first. */
  detect(image: tf.Tensor3D): Promise<DetectedFace[]>;
  dispose(): void;
}

export interface DetectorOptions {
  maxFaces: number;
  scoreThreshold: number;
  iouThreshold: number;
}

export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = { maxFaces: 10, scoreThreshold: 0.75, iouThreshold: 0.3 };

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
    scoreThreshold: opts.scoreThreshold,
    iouThreshold: opts.iouThreshold,
    inputWidth: INPUT_SIZE,
    inputHeight: INPUT_SIZE,
  });
  return {
    async detect(image) {
      const [height, width] = image.shape;
      const square = letterboxSquare(width, height);
      // One resample to the letterboxed 128×128 input; BlazeFace's own resize then is a no-op.
      const input = tf.tidy(() =>
        tf.squeeze(
          tf.image.cropAndResize(
            tf.expandDims(asFloat32(image), 0) as tf.Tensor4D,
            [toNormalizedBox(square, width, height)],
            [0],
            [INPUT_SIZE, INPUT_SIZE],
          ),
          [0],
        ),
      ) as tf.Tensor3D;
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
    },
    dispose() {
      model.dispose();
    },
  };
}
