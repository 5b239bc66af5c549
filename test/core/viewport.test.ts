import { describe, expect, it } from 'vitest';
import { mapBox, mapPoint, parseObjectFit, viewTransform } from '../../src/core/viewport';

const VIDEO = { width: 640, height: 480 };

describe('viewTransform', () => {
  it('contain letterboxes a 4:3 source in a wide view', () => {
    const t = viewTransform(VIDEO, { width: 1000, height: 480 }, 'contain');
    expect(t).toMatchObject({ scaleX: 1, scaleY: 1, offsetX: 180, offsetY: 0 });
  });

  it('cover fills a tall view and crops the sides', () => {
    const t = viewTransform(VIDEO, { width: 360, height: 960 }, 'cover');
    expect(t.scaleX).toBe(2);
    expect(t.offsetX).toBe((360 - 1280) / 2);
    expect(t.offsetY).toBe(0);
  });

  it('fill stretches each axis on its own', () => {
    const t = viewTransform(VIDEO, { width: 320, height: 480 }, 'fill');
    expect([t.scaleX, t.scaleY]).toEqual([0.5, 1]);
  });

  it('none keeps the size and centres; scale-down never enlarges', () => {
    expect(viewTransform(VIDEO, { width: 800, height: 600 }, 'none')).toMatchObject({
      scaleX: 1,
      offsetX: 80,
      offsetY: 60,
    });
    expect(viewTransform(VIDEO, { width: 1280, height: 960 }, 'scale-down').scaleX).toBe(1);
    expect(viewTransform(VIDEO, { width: 320, height: 480 }, 'scale-down').scaleX).toBe(0.5);
  });

  it('maps nothing while the source has no size yet', () => {
    const t = viewTransform({ width: 0, height: 0 }, { width: 100, height: 100 }, 'contain');
    expect(mapBox({ x: 10, y: 10, width: 5, height: 5 }, t)).toEqual({ x: 0, y: 0, width: 0, height: 0 });
  });
});

describe('mapBox', () => {
  const face = { x: 100, y: 50, width: 200, height: 100 };

  it('scales and offsets a box', () => {
    const t = viewTransform(VIDEO, { width: 1280, height: 1200 }, 'contain');
    expect(mapBox(face, t)).toEqual({ x: 200, y: 100 + 120, width: 400, height: 200 });
  });

  it('mirrors about the view centre, keeping a positive width', () => {
    const t = viewTransform(VIDEO, VIDEO, 'contain', true);
    expect(mapBox(face, t)).toEqual({ x: 640 - 300, y: 50, width: 200, height: 100 });
  });

  it('mirroring with cover stays on the face: a centred face stays centred', () => {
    const t = viewTransform(VIDEO, { width: 300, height: 600 }, 'cover', true);
    const centred = mapBox({ x: 270, y: 190, width: 100, height: 100 }, t);
    expect(centred.x + centred.width / 2).toBeCloseTo(150);
    expect(centred.width).toBeCloseTo(125);
  });

  it('mapPoint agrees with mapBox corners', () => {
    const t = viewTransform(VIDEO, { width: 500, height: 500 }, 'cover', true);
    const b = mapBox(face, t);
    expect(mapPoint([face.x + face.width, face.y], t)).toEqual([b.x, b.y]);
  });
});

describe('parseObjectFit', () => {
  it('accepts CSS values and falls back to fill', () => {
    expect(parseObjectFit('cover')).toBe('cover');
    expect(parseObjectFit('scale-down')).toBe('scale-down');
    expect(parseObjectFit('')).toBe('fill');
  });
});
