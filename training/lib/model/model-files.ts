import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelMetadata } from '../../../src/core/metadata';
import { packKernel, serializeKernel } from '../../../src/core/packed-weights';
import { withPackedWeights, type PackedSpec } from '../../../src/vision/packed-model';
import { fileModelHandler, isRunning } from '../node-io';

export type Quantization = ModelMetadata['quantization'];

const WEIGHTS_FILE = 'weights.bin';

/** IEEE half precision, round to nearest even; tfjs decodes these for specs quantized as float16. */
function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rest > mid || (rest === mid && half & 1)) half++;
      out[i] = sign | half;
    } else {
      let half = (e << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
      out[i] = sign | half;
    }
  }
  return out;
}

/** Bits a kernel weight of a uint4 export. */
export const UINT4_BITS = 4;

/** The kernels a uint4 export packs, with each one's output-channel axis: a depthwise kernel's is its third. */
export function packedAxis(name: string, shape: readonly number[]): number | null {
  if (name.endsWith('depthwise_kernel')) return 2;
  return name.endsWith('kernel') ? shape.length - 1 : null;
}

/**
 * Re-encodes float32 weights as uint8 (affine per tensor) or float16, with the specs tfjs's loader decodes, or as
 * uint4: kernels packed (src/core/packed-weights.ts), the rest float32 (biases: a few thousand values).
 */
export function quantizeWeights(
  specs: tf.io.WeightsManifestEntry[],
  data: ArrayBuffer,
  quantization: Quantization,
): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  if (quantization === 'float32') return { specs, data };
  const parts: Uint8Array[] = [];
  let offset = 0;
  const outSpecs = specs.map((spec) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = n * 4;
    if (spec.dtype !== 'float32') {
      parts.push(new Uint8Array(data, offset, bytes));
      offset += bytes;
      return spec;
    }
    const values = new Float32Array(data.slice(offset, offset + bytes));
    offset += bytes;
    const axis = quantization === 'uint4' ? packedAxis(spec.name, spec.shape) : null;
    if (axis !== null) {
      parts.push(serializeKernel(packKernel(values, { shape: spec.shape, axis }, UINT4_BITS)));
      return { ...spec, packed: { bits: UINT4_BITS, axis } } satisfies PackedSpec;
    }
    if (quantization === 'uint4') {
      parts.push(new Uint8Array(values.buffer));
      return spec;
    }
    if (quantization === 'float16') {
      parts.push(new Uint8Array(toFloat16(values).buffer));
      return { ...spec, quantization: { dtype: 'float16' as const } };
    }
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const scale = max > min ? (max - min) / 255 : 1;
    parts.push(Uint8Array.from(values, (v) => Math.round((v - min) / scale)));
    return { ...spec, quantization: { dtype: 'uint8' as const, min, scale } };
  });
  const total = parts.reduce((s, p) => s + p.length, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return { specs: outSpecs, data: joined.buffer };
}

/** Writes model.json and one weights file into `dir`; returns the sha256 of each file written. */
export async function saveModelFiles(
  model: tfl.LayersModel,
  dir: string,
  quantization: Quantization = 'float32',
): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  let hashes: Record<string, string> = {};
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const raw = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const { specs, data } = quantizeWeights(artifacts.weightSpecs ?? [], raw, quantization);
      const bytes = new Uint8Array(data);
      writeFileSync(join(dir, WEIGHTS_FILE), bytes);
      hashes = { [WEIGHTS_FILE]: createHash('sha256').update(bytes).digest('hex') };
      const json = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
      };
      const text = JSON.stringify(json);
      writeFileSync(join(dir, 'model.json'), text);
      hashes['model.json'] = createHash('sha256').update(text).digest('hex');
      return {
        modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.length },
      };
    }),
  );
  return hashes;
}

export function loadModelFiles(dir: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(withPackedWeights(fileModelHandler(join(dir, 'model.json'))));
}

/**
 * Repairs what a process killed inside replaceDirAtomically left beside `dir`: half-written `.<name>.tmp-<pid>`
 * folders are removed, and a `.<name>.old-<pid>` is put back when it died between its two renames and `dir` is
 * missing (removed otherwise). Leftovers of processes still running are theirs and left alone.
 */
export function recoverDir(dir: string): void {
  const parent = dirname(dir);
  const prefix = `.${basename(dir)}.`;
  const names = existsSync(parent) ? readdirSync(parent) : [];
  for (const name of names.sort()) {
    const m = name.startsWith(prefix) ? /^(tmp|old)-(\d+)$/.exec(name.slice(prefix.length)) : null;
    if (!m || isRunning(Number(m[2]))) continue;
    if (m[1] === 'old' && !existsSync(dir)) renameSync(join(parent, name), dir);
    else rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/**
 * Writes a folder completely under a temporary name beside `dir`, then swaps it in with renames, so readers see
 * the old folder or the new one, never half of either. Leftovers of an earlier, killed call are cleaned up first.
 */
export async function replaceDirAtomically(dir: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  recoverDir(dir);
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}`);
  const old = join(parent, `.${basename(dir)}.old-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  await write(tmp);
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}
