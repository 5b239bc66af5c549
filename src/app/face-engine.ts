import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { Box } from '../core/geometry';
import type { ModelMetadata } from '../core/metadata';
import { initBackend } from '../vision/backend';
import { loadGenderClassifier, withFlipAveraging, type GenderClassifier } from '../vision/classifier';
import { cropFaces } from '../vision/crop';
import { BLAZEFACE_FILES, loadBlazeFace, type FaceDetector } from '../vision/detector';
import { fetchVerifiedModel } from './verified-model';

// The binaries come from our own origin (bundled, hashed, precached), never from a CDN.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
});

export const BACKENDS = ['webgl', 'wasm', 'cpu'] as const;
/** WebGPU is opt-in (`?backend=webgpu`): tfjs 4.22 still calls it experimental. */
export type BackendName = (typeof BACKENDS)[number] | 'webgpu';

export interface FaceResult {
  /** In pixels of the analysed image. */
  box: Box;
  /** Probability of "male", calibrated; undefined for a face the caller chose not to classify. */
  probability?: number;
}

export interface Analysis {
  faces: FaceResult[];
  width: number;
  height: number;
  /** Milliseconds: reading the pixels, finding the faces, labelling them. */
  timings: { capture: number; detect: number; classify: number };
}

/** Given the boxes found in a frame, says for each whether to classify it. */
export type ClassifySelector = (boxes: readonly Box[]) => readonly boolean[];

export interface AnalyzeOptions {
  select?: ClassifySelector;
  still?: boolean;
}

export type ImageInput = HTMLVideoElement | HTMLImageElement | HTMLCanvasElement | ImageBitmap | ImageData;

const MODELS = `${import.meta.env.BASE_URL}models/`;

/** Detector and classifier on one tfjs backend: load once, analyse images, release everything on dispose. */
export class FaceEngine {
  /** Set when the GPU context behind `backend` is lost: every tensor on it, the models' weights too, is gone. */
  private lost = false;
  private readonly lostListeners = new Set<() => void>();
  private gl?: WebGLRenderingContext;
  /**
   * Stills are classified with their mirror images as well (docs/experiments.md §23): a photo has no later frames
   * to average over, and the second crop per face is paid once, not on every frame. It wraps `classifier`, which
   * owns the weights.
   */
  private readonly stillClassifier: GenderClassifier;

  private constructor(
    readonly backend: string,
    readonly metadata: ModelMetadata,
    private readonly detector: FaceDetector,
    private readonly classifier: GenderClassifier,
  ) {
    this.stillClassifier = withFlipAveraging(classifier);
  }

  /** `order` lists backends to try, best first; the first that starts is used. */
  static async load(order: readonly BackendName[] = BACKENDS): Promise<FaceEngine> {
    // Its code is loaded only when asked for and the browser has WebGPU; otherwise the next backend in `order` runs.
    if (order.includes('webgpu') && 'gpu' in navigator) await import('@tensorflow/tfjs-backend-webgpu');
    const backend = await initBackend(order);
    const gender = await fetchVerifiedModel(`${MODELS}gender/`);
    if (gender.repaired.length > 0) console.warn(`gender model: downloaded again: ${gender.repaired.join('; ')}`);
    const [detector, classifier] = await Promise.all([
      loadBlazeFace({
        shortRange: `${MODELS}blazeface/${BLAZEFACE_FILES.shortRange}`,
        fullRange: `${MODELS}blazeface/${BLAZEFACE_FILES.fullRange}`,
      }),
      loadGenderClassifier(gender.handler, gender.metadata),
    ]);
    const engine = new FaceEngine(backend, gender.metadata, detector, classifier);
    await engine.warmUp();
    engine.watchContext();
    return engine;
  }

  /** The WebGL context the models run in, when they run on WebGL. */
  get webglContext(): WebGLRenderingContext | undefined {
    return this.gl;
  }

  /**
   * Calls `listener` once if the GPU context is lost. From then on `analyze` fails or never settles (tfjs polls the
   * dead context's fences forever), so stop calling it, dispose this engine and load another.
   */
  onLost(listener: () => void): void {
    this.lostListeners.add(listener);
  }

  /**
   * Finds the faces in `image` and classifies those `select` picks (all by default), in one batch. A `still` (a
   * photo) is looked at again with a border when no face is found (a face that fills it needs room around it), and
   * its faces are classified with their mirror images.
   */
  async analyze(image: ImageInput, { select, still = false }: AnalyzeOptions = {}): Promise<Analysis> {
    const t0 = performance.now();
    // Cast once here: the detector's resample and the face crops both read float32, and each would cast again.
    const pixels = tf.tidy(() => tf.cast(tf.browser.fromPixels(image), 'float32')) as tf.Tensor3D;
    try {
      const t1 = performance.now();
      const detections = await this.detector.detect(pixels, { still });
      const t2 = performance.now();
      const faces: FaceResult[] = detections.map((d) => ({ box: d.box }));
      const chosen = select?.(faces.map((f) => f.box)) ?? faces.map(() => true);
      const picked = faces.filter((_, i) => chosen[i]);
      if (picked.length > 0) {
        const crops = cropFaces(
          pixels,
          picked.map((f) => f.box),
          this.metadata.crop,
        );
        try {
          const classifier = still ? this.stillClassifier : this.classifier;
          const probabilities = await classifier.classify(crops);
          picked.forEach((f, i) => (f.probability = probabilities[i]));
        } finally {
          crops.dispose();
        }
      }
      const t3 = performance.now();
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

  /** Releases the models; a lost engine also drops its dead backend, so the next `load` makes a new one. */
  dispose(): void {
    this.gl?.canvas.removeEventListener('webglcontextlost', this.contextLost);
    this.lostListeners.clear();
    this.detector.dispose();
    this.classifier.dispose();
    if (this.lost) renewBackend(this.backend);
  }

  /** tfjs's WebGL backend draws into one canvas of its own; its `webglcontextlost` is the only warning there is. */
  private watchContext(): void {
    if (this.backend !== 'webgl') return;
    this.gl = (tf.backend() as MathBackendWebGL).gpgpu.gl;
    this.gl.canvas.addEventListener('webglcontextlost', this.contextLost);
    if (this.gl.isContextLost()) this.contextLost();
  }

  private readonly contextLost = (): void => {
    if (this.lost) return;
    this.lost = true;
    for (const listener of this.lostListeners) listener();
  };

  /**
   * One blank pass through detection, crop and classification at a common camera size compiles the kernels
   * (shaders on WebGL, wasm on first call) at load rather than on the first live frame.
   */
  private async warmUp(): Promise<void> {
    const blank = tf.zeros([480, 640, 3], 'float32') as tf.Tensor3D;
    const crops = cropFaces(blank, [{ x: 240, y: 160, width: 160, height: 160 }], this.metadata.crop);
    try {
      await Promise.all([this.detector.warmUp(640, 480), this.classifier.classify(crops)]);
    } finally {
      blank.dispose();
      crops.dispose();
    }
  }
}

/**
 * tfjs keeps a backend whose context was lost registered and active, and `setBackend` would hand it out again. Removed
 * and registered anew with the same factory, it is built afresh, with a new context, the next time it is set.
 */
function renewBackend(name: string): void {
  const { factory, priority } = tf.engine().registryFactory[name];
  tf.removeBackend(name);
  tf.registerBackend(name, factory, priority);
}
