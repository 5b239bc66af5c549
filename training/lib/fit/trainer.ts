import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

export interface TrainerOptions {
  /** Adam learning rate (default 1e-3). */
  lr?: number;
  /** Loss weight per class (default 1 each), e.g. inverse class frequencies for an unbalanced set. */
  classWeights?: { female: number; male: number };
  /**
   * ε of label smoothing (default 0): the training loss aims at ε/2 and 1 − ε/2 instead of 0 and 1, so a few wrong
   * labels (crowd-sourced sets have some) cannot drive the logits without bound. Accuracy and `evaluate` use the
   * labels as given.
   */
  labelSmoothing?: number;
  /**
   * Largest number of images pushed through the model at once (default: the whole batch). Bigger batches are split and
   * their gradients summed before one optimizer update, which bounds activation memory (the wasm heap is capped at
   * 4 GiB). BatchNorm normalises, and updates its moving statistics, per micro-batch.
   */
  microBatch?: number;
  /**
   * Weight of the auxiliary heads' cross-entropy in the loss trained on (default 1), for a model made by
   * `withAuxHeads`; images whose class a head does not know (−1) add nothing to that head's term.
   */
  auxWeight?: number;
}

export interface StepResult {
  /** Mean class-weighted binary cross-entropy over the batch, against the smoothed labels. */
  loss: number;
  /** Images whose thresholded prediction (p > 0.5 → male) matched the label. */
  correct: number;
  /** Mean cross-entropy of the auxiliary heads over the images each knows the class of (0 without heads). */
  auxLoss: number;
}

export interface Gradients {
  /** One per trainable weight, in `model.trainableWeights` order. */
  grads: tf.Tensor[];
  lossSum: number;
  correct: number;
  /** Summed cross-entropy of the auxiliary heads, and how many (image, head) pairs it is over. */
  auxLossSum: number;
  auxCount: number;
}

/** What the training loss is made of, which every thread that computes gradients must share. */
export interface LossSettings {
  classWeights: { female: number; male: number };
  labelSmoothing: number;
  auxWeight: number;
}

export interface Trainer {
  /**
   * One optimizer update on a batch of RAW 0–255 images; labels are 0 female, 1 male, or between for blended
   * (mixup) images; `aux`, for a model with auxiliary heads, each image's class for each head (int32 [n, heads], −1
   * where unknown). Reads back once.
   */
  step(x: tf.Tensor4D, y: tf.Tensor1D, aux?: tf.Tensor2D): StepResult;
  /** The gradient half of `step`, for splitting a batch across workers. */
  gradients(x: tf.Tensor4D, y: tf.Tensor1D, scale: number, aux?: tf.Tensor2D): Gradients;
  /** The update half of `step`; releases the gradients. */
  applyGradients(grads: tf.Tensor[]): void;
  setLearningRate(rate: number): void;
  /**
   * Plain loss (no class weights, labels as given) and correct count in inference mode: BatchNorm uses moving
   * statistics, dropout is off.
   */
  evaluate(x: tf.Tensor4D, y: tf.Tensor1D): StepResult;
  readonly optimizer: tf.AdamOptimizer;
  readonly loss: LossSettings;
  /** Copies of the optimizer state (step count and Adam moments) that the caller owns, for checkpoints. */
  getOptimizerWeights(): Promise<NamedTensor[]>;
  /** Restores state from `getOptimizerWeights`, for the same model; the caller keeps ownership of the tensors. */
  setOptimizerWeights(weights: NamedTensor[]): Promise<void>;
}

/** Keras' clipping for probabilities fed to log, so a saturated sigmoid gives a large but finite loss. */
const EPSILON = 1e-7;

/**
 * Training without tfjs-layers' `fit`: one `variableGrads` over `model.apply(x, {training: true})` per micro-batch and
 * one Adam update per step. In training mode tfjs-layers' BatchNormalization normalises with batch statistics and
 * updates its moving mean and variance itself (inside `call`), and Dropout is active; in `evaluate` neither happens.
 */
export function createTrainer(model: LayersModel, opts: TrainerOptions = {}): Trainer {
  const { lr = 1e-3, classWeights = { female: 1, male: 1 }, labelSmoothing = 0, microBatch, auxWeight = 1 } = opts;
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    throw new Error(`labelSmoothing must be in [0, 1), got ${labelSmoothing}`);
  if (!(auxWeight >= 0)) throw new Error(`auxWeight must be at least 0, got ${auxWeight}`);
  const heads = model.outputs.length - 1;
  const optimizer = tf.train.adam(lr);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);

  /**
   * Sums of per-image loss, of the auxiliary heads' cross-entropy and of the (image, head) pairs it is over, and of
   * correct predictions for one forward pass; `objective`: the loss trained on, with class weights and smoothed
   * labels, rather than the plain one.
   */
  function lossAndCorrect(
    x: tf.Tensor4D,
    y: tf.Tensor1D,
    aux: tf.Tensor2D | null,
    training: boolean,
    objective: boolean,
  ) {
    const out = model.apply(x, { training }) as tf.Tensor | tf.Tensor[];
    const [prob, ...logits] = Array.isArray(out) ? out : [out];
    const p = tf.reshape(prob, [-1]);
    const pc = tf.clipByValue(p, EPSILON, 1 - EPSILON);
    const target = objective && labelSmoothing > 0 ? tf.add(tf.mul(y, 1 - labelSmoothing), labelSmoothing / 2) : y;
    const perImage = tf.neg(tf.add(tf.mul(target, tf.log(pc)), tf.mul(tf.sub(1, target), tf.log1p(tf.neg(pc)))));
    const w = objective ? tf.add(classWeights.female, tf.mul(y, classWeights.male - classWeights.female)) : null;
    const lossSum = tf.sum(w ? tf.mul(perImage, w) : perImage);
    // A mixup label is its larger part's: at least half of it.
    const correct = tf.sum(tf.cast(tf.equal(tf.greater(p, 0.5), tf.greaterEqual(y, 0.5)), 'float32'));
    if (!aux || heads === 0) return { lossSum, auxSum: tf.scalar(0), auxCount: tf.scalar(0), correct };
    const parts = logits.map((z, h) => {
      const classes = tf.squeeze(tf.slice(aux, [0, h], [-1, 1]), [1]) as tf.Tensor1D;
      const known = tf.cast(tf.greaterEqual(classes, 0), 'float32');
      const target = tf.oneHot(tf.maximum(classes, tf.scalar(0, 'int32')), z.shape[1]!);
      const sum = tf.losses.softmaxCrossEntropy(target, z, known, 0, tf.Reduction.SUM);
      return { sum, count: tf.sum(known) };
    });
    return {
      lossSum,
      auxSum: tf.addN(parts.map((q) => q.sum)),
      auxCount: tf.addN(parts.map((q) => q.count)),
      correct,
    };
  }

  function chunks(n: number): Array<[number, number]> {
    const size = microBatch && microBatch < n ? microBatch : n;
    const out: Array<[number, number]> = [];
    for (let begin = 0; begin < n; begin += size) out.push([begin, Math.min(size, n - begin)]);
    return out;
  }

  function slice<T extends tf.Tensor>(t: T, [begin, size]: [number, number]): T {
    return size === t.shape[0] ? t : (tf.slice(t, begin, size) as T);
  }

  /** Runs `f` over micro-batches, summing the scalars it returns, and reads the sums back once. */
  function reduce(
    x: tf.Tensor4D,
    y: tf.Tensor1D,
    aux: tf.Tensor2D | null,
    f: (x: tf.Tensor4D, y: tf.Tensor1D, aux: tf.Tensor2D | null) => tf.Tensor[],
  ): number[] {
    let totals: tf.Tensor[] | null = null;
    for (const range of chunks(x.shape[0])) {
      const parts = tf.tidy(() => f(slice(x, range), slice(y, range), aux && slice(aux, range)));
      if (totals) {
        const prev: tf.Tensor[] = totals;
        totals = parts.map((t, i) => tf.add(prev[i], t));
        tf.dispose([...prev, ...parts]);
      } else {
        totals = parts;
      }
    }
    const packed = tf.stack(totals!);
    const values = Array.from(packed.dataSync());
    tf.dispose([packed, ...totals!]);
    return values;
  }

  /**
   * Gradients of the loss trained on (class weights, smoothed labels, and the auxiliary heads' cross-entropy times
   * their weight) summed over `x` and divided by `scale` (the whole batch's size, so that the gradients of the parts
   * of a batch add up to the batch-mean gradient), in `model.trainableWeights` order. The caller owns the returned
   * tensors.
   */
  function gradients(x: tf.Tensor4D, y: tf.Tensor1D, scale: number, aux?: tf.Tensor2D): Gradients {
    let grads: tf.Tensor[] | null = null;
    const [lossSum, correct, auxLossSum, auxCount] = reduce(x, y, aux ?? null, (xs, ys, as) => {
      let stats!: ReturnType<typeof lossAndCorrect>;
      const { value, grads: g } = tf.variableGrads(() => {
        // Kept: variableGrads frees everything but its result when it returns.
        stats = lossAndCorrect(xs, ys, as, true, true);
        tf.keep(stats.lossSum);
        tf.keep(stats.correct);
        tf.keep(stats.auxSum);
        tf.keep(stats.auxCount);
        return tf.div(tf.add(stats.lossSum, tf.mul(stats.auxSum, auxWeight)), scale) as tf.Scalar;
      }, variables);
      value.dispose();
      const ordered = variables.map((v) => g[v.name]);
      if (grads) {
        const prev: tf.Tensor[] = grads;
        grads = ordered.map((t, i) => tf.add(prev[i], t));
        tf.dispose([...prev, ...ordered]);
      } else {
        grads = ordered;
      }
      grads.forEach((t) => tf.keep(t));
      return [stats.lossSum, stats.correct, stats.auxSum, stats.auxCount];
    });
    return { grads: grads!, lossSum, correct, auxLossSum, auxCount };
  }

  /** One Adam update; releases `grads`. */
  function applyGradients(grads: tf.Tensor[]): void {
    optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i] })));
    tf.dispose(grads);
  }

  function step(x: tf.Tensor4D, y: tf.Tensor1D, aux?: tf.Tensor2D): StepResult {
    const n = x.shape[0];
    const { grads, lossSum, correct, auxLossSum, auxCount } = gradients(x, y, n, aux);
    applyGradients(grads);
    return { loss: lossSum / n, correct, auxLoss: auxCount > 0 ? auxLossSum / auxCount : 0 };
  }

  function evaluate(x: tf.Tensor4D, y: tf.Tensor1D): StepResult {
    const [lossSum, correct] = reduce(x, y, null, (xs, ys) => {
      const { lossSum, correct } = lossAndCorrect(xs, ys, null, false, false);
      return [lossSum, correct];
    });
    return { loss: lossSum / x.shape[0], correct, auxLoss: 0 };
  }

  return {
    step,
    gradients,
    applyGradients,
    evaluate,
    optimizer,
    loss: { classWeights, labelSmoothing, auxWeight },
    setLearningRate(rate) {
      // Adam reads its rate on every update; tfjs offers no setter.
      (optimizer as unknown as { learningRate: number }).learningRate = rate;
    },
    async getOptimizerWeights() {
      const weights = await optimizer.getWeights();
      // The moments are the optimizer's live variables; the step count is already a fresh tensor.
      return weights.map(({ name, tensor }) => ({
        name,
        tensor: tensor instanceof tf.Variable ? tf.clone(tensor) : tensor,
      }));
    },
    async setOptimizerWeights(weights) {
      await optimizer.setWeights(weights);
    },
  };
}
