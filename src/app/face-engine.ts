import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { Box } from '../core/geometry';
import { formatVerdict, verdict, type Verdict } from '../core/labels';
import { parseMetadata, type ModelMetadata } from '../core/metadata';
import { initBackend } from '../vision/backend';
import { loadGenderClassifier, type GenderClassifier } from '../vision/classifier';
import { cropFaces } from '../vision/crop';
import { loadBlazeFace, type FaceDetector } from '../vision/detector';

// The binaries come from our own origin (bundled, hashed, precached), never from a CDN.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
});

export const BACKENDS = ['webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface LabelledFace {
  /** In pixels of the analysed image. */
  box: Box;
  verdict: Verdict;
  /** "female 93%", "male 88%" or "uncertain". */
  text: string;
}

export interface Analysis {
  faces: LabelledFace[];
  width: number;
  height: number;
  /** Milliseconds: reading the pixels, finding the faces, labelling them. */
  timings: { capture: number; detect: number; classify: number };
}

export type ImageInput = HTMLVideoElement | HTMLImageElement | HTMLCanvasElement | ImageBitmap;

const MODELS = `${import.meta.env.BASE_URL}models/`;

/** Detector and classifier on one tfjs backend: load once, analyse images, release everything on dispose. */
export class FaceEngine {
  private constructor(
    readonly backend: string,
    readonly metadata: ModelMetadata,
    private readonly detector: FaceDetector,
    private readonly classifier: GenderClassifier,
  ) {}

  /** `order` lists backends to try, best first; the first that starts is used. */
  static async load(order: readonly BackendName[] = BACKENDS): Promise<FaceEngine> {
    const backend = await initBackend(order);
    const metadataResponse = await fetch(`${MODELS}gender/metadata.json`);
    if (!metadataResponse.ok) throw new Error(`gender model metadata: HTTP ${metadataResponse.status}`);
    const metadata = parseMetadata(await metadataResponse.json());
    const [detector, classifier] = await Promise.all([
      loadBlazeFace(`${MODELS}blazeface/facemesh-detection-short.json`),
      loadGenderClassifier(`${MODELS}gender/model.json`, metadata),
    ]);
    const engine = new FaceEngine(backend, metadata, detector, classifier);
    await engine.warmUp();
    return engine;
  }

  async analyze(image: ImageInput): Promise<Analysis> {
    const t0 = performance.now();
    const pixels = tf.browser.fromPixels(image);
    try {
      const t1 = performance.now();
      const detections = await this.detector.detect(pixels);
      const t2 = performance.now();
      const boxes = detections.map((d) => d.box);
      let probabilities: ArrayLike<number> = [];
      if (boxes.length > 0) {
        // All faces of the frame in one batched crop and one classifier call.
        const crops = cropFaces(pixels, boxes, this.metadata.crop);
        try {
          probabilities = await this.classifier.classify(crops);
        } finally {
          crops.dispose();
        }
      }
      const t3 = performance.now();
      const faces = boxes.map((box, i) => {
        const v = verdict(probabilities[i], this.metadata.policy);
        return { box, verdict: v, text: formatVerdict(v) };
      });
      const [height, width] = pixels.shape;
      return { faces, width, height, timings: { capture: t1 - t0, detect: t2 - t1, classify: t3 - t2 } };
    } finally {
      pixels.dispose();
    }
  }

  /** Tensors alive on the backend: constant from frame to frame when nothing leaks. */
  numTensors(): number {
    return tf.memory().numTensors;
  }

  dispose(): void {
    this.detector.dispose();
    this.classifier.dispose();
  }

  /** One blank pass compiles the detector's kernels (shaders on WebGL) before the first live frame. */
  private async warmUp(): Promise<void> {
    const blank = tf.zeros([128, 128, 3], 'int32') as tf.Tensor3D;
    try {
      await this.detector.detect(blank);
    } finally {
      blank.dispose();
    }
  }
}
