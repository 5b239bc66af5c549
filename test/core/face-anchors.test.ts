import { describe, expect, it } from 'vitest';
import {
  anchorCentres,
  decodeFaces,
  FULL_RANGE_ANCHORS,
  SHORT_RANGE_ANCHORS,
  suppressOverlaps,
  VALUES_PER_ANCHOR,
} from '../../src/core/face-anchors';

describe('anchorCentres', () => {
  it('gives the full-range model one anchor per 4-pixel cell of its 192×192 input, row by row', () => {
    const anchors = anchorCentres(FULL_RANGE_ANCHORS);
    expect(anchors).toHaveLength(2304);
    expect(anchors[0]).toEqual([0.5 / 48, 0.5 / 48]);
    expect(anchors[1]).toEqual([1.5 / 48, 0.5 / 48]);
    expect(anchors[48]).toEqual([0.5 / 48, 1.5 / 48]);
    expect(anchors[2303]).toEqual([47.5 / 48, 47.5 / 48]);
  });

  it('reproduces the short-range model’s 896 anchors: 2 per 8-pixel cell, then 6 per 16-pixel cell', () => {
    const anchors = anchorCentres(SHORT_RANGE_ANCHORS);
    expect(anchors).toHaveLength(16 * 16 * 2 + 8 * 8 * 6);
    expect(anchors[0]).toEqual(anchors[1]);
    expect(anchors[2]).toEqual([1.5 / 16, 0.5 / 16]);
    expect(anchors[512]).toEqual([0.5 / 8, 0.5 / 8]);
    expect(anchors.slice(512, 518).every((a) => a[0] === 0.5 / 8)).toBe(true);
    expect(anchors[518]).toEqual([1.5 / 8, 0.5 / 8]);
  });
});

/** A raw output of `anchors` rows, all zero but a logit of -20 (score ~0), with `rows` written in. */
function rawOutput(anchors: number, rows: Record<number, number[]>): Float32Array {
  const raw = new Float32Array(anchors * VALUES_PER_ANCHOR);
  for (let i = 0; i < anchors; i++) raw[i * VALUES_PER_ANCHOR] = -20;
  for (const [i, values] of Object.entries(rows)) raw.set(values, Number(i) * VALUES_PER_ANCHOR);
  return raw;
}

describe('decodeFaces', () => {
  const anchors: [number, number][] = [
    [0.25, 0.25],
    [0.75, 0.5],
  ];
  const keypoints = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

  it('places the box and keypoints relative to the anchor, in input pixels, with the sigmoid of the logit', () => {
    // Anchor 1 sits at (150, 100) of a 200-pixel input; the centre is offset by (10, -20).
    const [face] = decodeFaces(rawOutput(2, { 1: [0, 10, -20, 40, 30, ...keypoints] }), anchors, 200, 0.4);
    expect(face.score).toBeCloseTo(0.5, 6);
    expect(face.box).toEqual({ x: 140, y: 65, width: 40, height: 30 });
    expect(face.keypoints[0]).toEqual([151, 102]);
    expect(face.keypoints[5]).toEqual([161, 112]);
  });

  it('keeps only rows scoring at least the threshold, and reads a later batch item from its offset', () => {
    const raw = rawOutput(4, { 0: [2, 0, 0, 10, 10, ...keypoints], 3: [-1, 0, 0, 10, 10, ...keypoints] });
    expect(decodeFaces(raw, anchors, 100, 0.5)).toHaveLength(1);
    expect(decodeFaces(raw, anchors, 100, 0.2)).toHaveLength(1);
    // The second item of the batch: rows 2 and 3, where only row 3 (logit -1, score 0.27) is set.
    const second = decodeFaces(raw, anchors, 100, 0.2, 2 * VALUES_PER_ANCHOR);
    expect(second).toHaveLength(1);
    expect(second[0].score).toBeCloseTo(1 / (1 + Math.exp(1)), 6);
    expect(second[0].box.x).toBe(75 - 5);
  });

  it('clips logits as MediaPipe does and drops boxes without area', () => {
    const raw = rawOutput(2, { 0: [1e6, 0, 0, 10, 10, ...keypoints], 1: [5, 0, 0, 0, 10, ...keypoints] });
    const faces = decodeFaces(raw, anchors, 100, 0.5);
    expect(faces).toHaveLength(1);
    expect(faces[0].score).toBe(1 / (1 + Math.exp(-100)));
  });
});

describe('suppressOverlaps', () => {
  const face = (x: number, score: number) => ({ box: { x, y: 0, width: 10, height: 10 }, score });

  it('keeps the best of overlapping faces and every face that overlaps none', () => {
    // IoU of boxes 2 apart is 8/12 = 0.67; 6 apart, 4/16 = 0.25.
    const kept = suppressOverlaps([face(0, 0.6), face(2, 0.9), face(8, 0.7), face(50, 0.5)], 0.3);
    expect(kept.map((f) => f.box.x)).toEqual([2, 8, 50]);
  });

  it('lets faces passed as kept stay whatever their score, and suppress the others', () => {
    const kept = suppressOverlaps([face(2, 0.99), face(50, 0.5)], 0.3, [face(0, 0.6)]);
    expect(kept.map((f) => [f.box.x, f.score])).toEqual([
      [0, 0.6],
      [50, 0.5],
    ]);
  });
});
