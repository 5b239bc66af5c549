/**
 * Weights stored in fewer bits than tfjs's uint8: each output channel of a kernel gets its own range, split into
 * 2^bits − 1 steps, and the steps' indices are packed into a bit stream. Issue 15 allows 500 KB of weights; at
 * 4 bits a weight that holds twice the parameters that uint8 does. Pure byte work, shared by the export (Node) and
 * the loaders (app and Node), and by training that rounds its kernels as the export will.
 */

/** Which output channel each element of a kernel belongs to: the last axis, or `axis` (a depthwise kernel's 2). */
export interface ChannelLayout {
  shape: readonly number[];
  axis: number;
}

function channelsOf({ shape, axis }: ChannelLayout): { channels: number; stride: number } {
  return { channels: shape[axis], stride: shape.slice(axis + 1).reduce((a, b) => a * b, 1) };
}

export interface PackedKernel {
  /** Each channel's lowest value and step: the grid its values lie on is lo + k × step, k = 0 … 2^bits − 1. */
  lo: Float32Array;
  step: Float32Array;
  /** The step indices, 0 to 2^bits − 1, `bits` each, least significant bit first. */
  codes: Uint8Array;
}

/**
 * Bytes a packed kernel of `n` values over `channels` channels takes: two float32 a channel, then the codes. Half
 * floats would save 4 bytes a channel (16 KB on a net of 4,000 channels) and move every grid a little off the one
 * training rounded to.
 */
export function packedBytes(n: number, channels: number, bits: number): number {
  return 8 * channels + Math.ceil((n * bits) / 8);
}

/** Rounds each value to the nearest point of its channel's grid of 2^bits levels, and packs the indices. */
export function packKernel(values: Float32Array, layout: ChannelLayout, bits: number): PackedKernel {
  if (!(Number.isInteger(bits) && bits >= 2 && bits <= 8)) throw new Error(`bits must be 2–8, got ${bits}`);
  const { channels, stride } = channelsOf(layout);
  const channelOf = (i: number) => Math.floor(i / stride) % channels;
  const min = new Float32Array(channels).fill(Infinity);
  const max = new Float32Array(channels).fill(-Infinity);
  values.forEach((v, i) => {
    const c = channelOf(i);
    min[c] = Math.min(min[c], v);
    max[c] = Math.max(max[c], v);
  });
  const levels = 2 ** bits - 1;
  const lo = min;
  const step = Float32Array.from(max, (m, c) => (m - lo[c]) / levels);
  const codes = new Uint8Array(Math.ceil((values.length * bits) / 8));
  values.forEach((v, i) => {
    const c = channelOf(i);
    const k = step[c] > 0 ? Math.round((v - lo[c]) / step[c]) : 0;
    const code = Math.min(levels, Math.max(0, k));
    const bit = i * bits;
    // A code spans at most two bytes (bits ≤ 8).
    codes[bit >>> 3] |= (code << (bit & 7)) & 0xff;
    if ((bit & 7) + bits > 8) codes[(bit >>> 3) + 1] |= code >>> (8 - (bit & 7));
  });
  return { lo, step, codes };
}

/** The values a packed kernel of `n` values stands for. */
export function unpackKernel(packed: PackedKernel, n: number, layout: ChannelLayout, bits: number): Float32Array {
  const { channels, stride } = channelsOf(layout);
  const { lo, step } = packed;
  const mask = (1 << bits) - 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const bit = i * bits;
    const pair = packed.codes[bit >>> 3] | ((packed.codes[(bit >>> 3) + 1] ?? 0) << 8);
    const c = Math.floor(i / stride) % channels;
    out[i] = lo[c] + ((pair >>> (bit & 7)) & mask) * step[c];
  }
  return out;
}

/** `values` as they are after packing and unpacking: what training at the exported weights computes with. */
export function roundToGrid(values: Float32Array, layout: ChannelLayout, bits: number): Float32Array {
  return unpackKernel(packKernel(values, layout, bits), values.length, layout, bits);
}

/** A packed kernel as stored: `lo` and `step` as little-endian float32, then the codes. */
export function serializeKernel({ lo, step, codes }: PackedKernel): Uint8Array {
  const out = new Uint8Array(8 * lo.length + codes.length);
  const view = new DataView(out.buffer);
  lo.forEach((v, c) => view.setFloat32(4 * c, v, true));
  step.forEach((v, c) => view.setFloat32(4 * (lo.length + c), v, true));
  out.set(codes, 8 * lo.length);
  return out;
}

export function deserializeKernel(bytes: Uint8Array, channels: number): PackedKernel {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const floats = (from: number) =>
    Float32Array.from({ length: channels }, (_, c) => view.getFloat32(from + 4 * c, true));
  return { lo: floats(0), step: floats(4 * channels), codes: bytes.subarray(8 * channels) };
}
