import { describe, expect, it } from 'vitest';
import { fromSquare, iou, letterboxSquare, scaleBox, toNormalizedBox } from '../../src/core/geometry';

describe('geometry', () => {
  it('normalizes a box in cropAndResize order [y1, x1, y2, x2]', () => {
    expect(toNormalizedBox({ x: 10, y: 20, width: 30, height: 40 }, 100, 200)).toEqual([0.1, 0.1, 0.3, 0.4]);
  });

  it('letterboxes a landscape image into a centred square that pads above and below', () => {
    expect(letterboxSquare(640, 480)).toEqual({ x: 0, y: -80, width: 640, height: 640 });
    expect(letterboxSquare(480, 640)).toEqual({ x: -80, y: 0, width: 640, height: 640 });
  });

  it('maps points from the letterboxed square back to the image', () => {
    const square = letterboxSquare(640, 480);
    expect(fromSquare([0, 0], square, 128)).toEqual([0, -80]);
    expect(fromSquare([64, 64], square, 128)).toEqual([320, 240]);
    expect(fromSquare([128, 128], square, 128)).toEqual([640, 560]);
  });

  it('grows a box about its centre', () => {
    expect(scaleBox({ x: 10, y: 20, width: 30, height: 40 }, 2)).toEqual({ x: -5, y: 0, width: 60, height: 80 });
    expect(scaleBox(letterboxSquare(96, 96), 1.5)).toEqual({ x: -24, y: -24, width: 144, height: 144 });
  });

  it('computes intersection over union', () => {
    const a = { x: 0, y: 0, width: 10, height: 10 };
    expect(iou(a, a)).toBe(1);
    expect(iou(a, { x: 5, y: 0, width: 10, height: 10 })).toBeCloseTo(50 / 150);
    expect(iou(a, { x: 20, y: 20, width: 5, height: 5 })).toBe(0);
  });
});
