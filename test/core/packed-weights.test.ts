import { describe, expect, it } from 'vitest';
import {
  deserializeKernel,
  packedBytes,
  packKernel,
  roundToGrid,
  serializeKernel,
  unpackKernel,
} from '../../src/core/packed-weights';

/** A small deterministic generator, so failures repeat. */
function noise(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31 - 0.5;
  });
}

describe('packKernel', () => {
  it('gives each output channel its own grid, from its lowest to its highest value', () => {
    // shape [2, 2]: channel 0 holds 0 and 3, channel 1 holds −1 and 1; 2 bits make 3 steps a channel.
    const values = Float32Array.from([0, -1, 3, 1]);
    const layout = { shape: [2, 2], axis: 1 };
    const packed = packKernel(values, layout, 2);
    expect(Array.from(packed.lo)).toEqual([0, -1]);
    expect(packed.step[0]).toBe(1);
    expect(packed.step[1]).toBeCloseTo(2 / 3, 6);
    // Codes 0, 0, 3, 3, two bits each from the lowest bit: 0b11110000.
    expect(Array.from(packed.codes)).toEqual([0b11110000]);
    expect(Array.from(unpackKernel(packed, 4, layout, 2))).toEqual([0, -1, 3, 1]);
  });

  it('reads a depthwise kernel’s channels from axis 2', () => {
    // [1, 1, 2, 2]: channel 0 is elements 0 and 1, channel 1 elements 2 and 3.
    const values = Float32Array.from([0, 7, 10, 13.5]);
    const rounded = roundToGrid(values, { shape: [1, 1, 2, 2], axis: 2 }, 3);
    expect(Array.from(rounded)).toEqual([0, 7, 10, 13.5]);
    const { lo } = packKernel(values, { shape: [1, 1, 2, 2], axis: 2 }, 3);
    expect(Array.from(lo)).toEqual([0, 10]);
  });

  it('keeps every value within half a step of itself, for codes that cross byte boundaries', () => {
    const shape = [3, 3, 5, 7];
    const values = noise(3 * 3 * 5 * 7, 7);
    for (const bits of [3, 4, 5, 7]) {
      for (const axis of [2, 3]) {
        const layout = { shape, axis };
        const packed = packKernel(values, layout, bits);
        const channels = shape[axis];
        expect(packed.codes.length).toBe(Math.ceil((values.length * bits) / 8));
        expect(serializeKernel(packed).length).toBe(packedBytes(values.length, channels, bits));
        const back = unpackKernel(deserializeKernel(serializeKernel(packed), channels), values.length, layout, bits);
        const steps = packed.step;
        const stride = axis === 2 ? shape[3] : 1;
        values.forEach((v, i) => {
          const c = Math.floor(i / stride) % channels;
          expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(steps[c] / 2 + 1e-6);
        });
        // Rounding twice lands on the same grid points.
        expect(roundToGrid(back, layout, bits)).toEqual(back);
      }
    }
  });

  it('stores a channel of one value as that value', () => {
    const values = Float32Array.from([0.25, 0.25, 0.25]);
    expect(Array.from(roundToGrid(values, { shape: [3, 1], axis: 1 }, 4))).toEqual([0.25, 0.25, 0.25]);
  });

  it('refuses widths it cannot pack', () => {
    expect(() => packKernel(new Float32Array(2), { shape: [2], axis: 0 }, 9)).toThrow(/bits must be 2–8/);
    expect(() => packKernel(new Float32Array(2), { shape: [2], axis: 0 }, 1)).toThrow(/bits must be 2–8/);
  });
});
