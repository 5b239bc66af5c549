import * as tf from '@tensorflow/tfjs-core';
import { deserializeKernel, packedBytes, unpackKernel } from '../core/packed-weights';

/** A weights-manifest entry stored by src/core/packed-weights.ts: `bits` a value over channels along `axis`. */
export type PackedSpec = tf.io.WeightsManifestEntry & { packed: { bits: number; axis: number } };

function isPacked(spec: tf.io.WeightsManifestEntry): spec is PackedSpec {
  return 'packed' in spec;
}

/** Bytes an entry takes in the weights data, however it is stored. */
export function storedBytes(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (isPacked(spec)) return packedBytes(n, spec.shape[spec.packed.axis], spec.packed.bits);
  if (spec.quantization) return n * (spec.quantization.dtype === 'uint8' ? 1 : 2);
  return n * 4;
}

/**
 * The artifacts with every packed kernel unpacked to float32, the others left as they are, so that tfjs's own
 * loader, which knows only its own encodings, decodes the rest.
 */
export function unpackArtifacts(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const specs = artifacts.weightSpecs ?? [];
  if (!specs.some(isPacked)) return artifacts;
  if (artifacts.weightData === undefined) throw new Error('the model has packed weights and no weights data');
  const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const parts: Uint8Array[] = [];
  let offset = 0;
  const weightSpecs = specs.map((spec) => {
    const bytes = new Uint8Array(data, offset, storedBytes(spec));
    offset += bytes.length;
    if (!isPacked(spec)) {
      parts.push(bytes);
      return spec;
    }
    const { packed, ...plain } = spec;
    const layout = { shape: spec.shape, axis: packed.axis };
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const kernel = deserializeKernel(bytes, spec.shape[packed.axis]);
    parts.push(new Uint8Array(unpackKernel(kernel, n, layout, packed.bits).buffer));
    return plain;
  });
  if (offset !== data.byteLength)
    throw new Error(`the weights file holds ${data.byteLength} bytes, its manifest describes ${offset}`);
  const joined = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return { ...artifacts, weightSpecs, weightData: joined.buffer };
}

/** `handler`, loading packed kernels as float32. */
export function withPackedWeights(handler: tf.io.IOHandler): tf.io.IOHandler {
  const load = handler.load?.bind(handler);
  if (!load) throw new Error('the model handler cannot load');
  return { load: async () => unpackArtifacts(await load()) };
}
