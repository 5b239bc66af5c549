import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { packKernel, serializeKernel } from '../../src/core/packed-weights';
import { storedBytes, unpackArtifacts } from '../../src/vision/packed-model';

const kernel = Float32Array.from([0, -1, 3, 1]);
const specs: tf.io.WeightsManifestEntry[] = [
  { name: 'a/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', min: -2, scale: 0.5 } },
  { name: 'a/kernel', shape: [2, 2], dtype: 'float32', packed: { bits: 2, axis: 1 } } as tf.io.WeightsManifestEntry,
  { name: 'b/bias', shape: [1], dtype: 'float32' },
];

function artifacts(extra = 0): tf.io.ModelArtifacts {
  const bias = Uint8Array.from([5, 0]);
  const packed = serializeKernel(packKernel(kernel, { shape: [2, 2], axis: 1 }, 2));
  const plain = new Uint8Array(Float32Array.from([7]).buffer);
  const data = new Uint8Array(bias.length + packed.length + plain.length + extra);
  data.set(bias);
  data.set(packed, bias.length);
  data.set(plain, bias.length + packed.length);
  return { modelTopology: {}, weightSpecs: specs, weightData: data.buffer };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('unpackArtifacts', () => {
  it('unpacks packed kernels to float32 and hands the other entries to tfjs as stored', () => {
    expect(specs.map(storedBytes)).toEqual([2, 2 * 8 + 1, 4]);
    const wide = { name: 'w', shape: [3], dtype: 'float32' as const };
    expect(storedBytes({ ...wide, quantization: { dtype: 'uint16', min: 0, scale: 1 } })).toBe(6);
    expect(storedBytes({ ...wide, quantization: { dtype: 'float16' } })).toBe(6);
    const out = unpackArtifacts(artifacts());
    expect(out.weightSpecs!.map((s) => 'packed' in s)).toEqual([false, false, false]);
    const decoded = tf.io.decodeWeights(out.weightData!, out.weightSpecs!);
    expect(Array.from(decoded['a/bias'].dataSync())).toEqual([0.5, -2]);
    const a = Array.from(decoded['a/kernel'].dataSync());
    expect(a.slice(0, 3)).toEqual([0, -1, 3]);
    expect(a[3]).toBeCloseTo(1, 3);
    expect(Array.from(decoded['b/bias'].dataSync())).toEqual([7]);
    tf.dispose(Object.values(decoded));
  });

  it('leaves a model without packed kernels untouched', () => {
    const plain: tf.io.ModelArtifacts = { modelTopology: {}, weightSpecs: [specs[2]], weightData: new ArrayBuffer(4) };
    expect(unpackArtifacts(plain)).toBe(plain);
  });

  it('says so when the weights file does not match its manifest', () => {
    expect(() => unpackArtifacts(artifacts(3))).toThrow('the weights file holds 26 bytes, its manifest describes 23');
  });
});
