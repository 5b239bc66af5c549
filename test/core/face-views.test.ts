import { describe, expect, it } from 'vitest';
import {
  addHeld,
  BORDER_SCALE,
  cycledViews,
  fromView,
  oneBoxPerFace,
  pickRefinement,
  refineView,
  stillViews,
  tileSquares,
  toShortRangeBox,
  ViewCycle,
} from '../../src/core/face-views';
import { letterboxSquare, scaleBox, type Box } from '../../src/core/geometry';

const covers = (tiles: Box[], x: number, y: number) =>
  tiles.some((t) => x >= t.x && x <= t.x + t.width && y >= t.y && y <= t.y + t.height);

describe('tileSquares', () => {
  it('covers a 640×480 frame with 2×2 squares of 400 px that overlap by a quarter at least', () => {
    expect(tileSquares(640, 480, 192)).toEqual([
      { x: 0, y: 0, width: 400, height: 400 },
      { x: 240, y: 0, width: 400, height: 400 },
      { x: 0, y: 80, width: 400, height: 400 },
      { x: 240, y: 80, width: 400, height: 400 },
    ]);
  });

  it('covers every pixel of wide and tall images', () => {
    for (const [w, h] of [
      [1280, 720],
      [491, 1137],
      [4352, 2903],
      [2000, 400],
    ]) {
      const tiles = tileSquares(w, h, 192);
      for (let x = 0; x <= w; x += w / 20) for (let y = 0; y <= h; y += h / 20) expect(covers(tiles, x, y)).toBe(true);
    }
    // 16:9: one row, centred.
    expect(tileSquares(1280, 720, 192).map((t) => [t.x, t.y])).toEqual([
      [0, -40],
      [480, -40],
    ]);
    expect(tileSquares(4352, 2903, 192)).toHaveLength(4);
  });

  it('makes no tiles for an image the model sees whole at full resolution', () => {
    expect(tileSquares(300, 200, 192)).toEqual([]);
    expect(tileSquares(96, 96, 192)).toEqual([]);
  });
});

describe('views', () => {
  it('gives a still the whole image, then its tiles', () => {
    expect(stillViews(640, 480, 192)).toEqual([letterboxSquare(640, 480), ...tileSquares(640, 480, 192)]);
    expect(stillViews(96, 96, 192)).toEqual([letterboxSquare(96, 96)]);
  });

  it('cycles live frames through the tiles, then the frame inside a border', () => {
    const views = cycledViews(640, 480, 192);
    expect(views).toEqual([...tileSquares(640, 480, 192), scaleBox(letterboxSquare(640, 480), BORDER_SCALE)]);
    expect(cycledViews(160, 120, 192)).toEqual([scaleBox(letterboxSquare(160, 120), BORDER_SCALE)]);
  });

  it('maps a point of a resampled view back to the image', () => {
    expect(fromView([96, 48], { x: 240, y: 80, width: 400, height: 400 }, 192)).toEqual([440, 180]);
  });
});

describe('toShortRangeBox', () => {
  it('shrinks the full-range box by 7.5 % about its centre and lowers it by 5 % of the new height', () => {
    const box = toShortRangeBox({ x: 100, y: 100, width: 107.5, height: 107.5 });
    expect(box.width).toBeCloseTo(100, 9);
    expect(box.height).toBeCloseTo(100, 9);
    expect(box.x + box.width / 2).toBeCloseTo(153.75, 9);
    expect(box.y + box.height / 2).toBeCloseTo(153.75 + 5, 9);
  });
});

describe('refineView', () => {
  it('is the square about the face’s centre, scale times its longer side', () => {
    expect(refineView({ x: 100, y: 50, width: 20, height: 30 }, 2)).toEqual({ x: 80, y: 35, width: 60, height: 60 });
  });

  it('reaches past the frame for a face at its edge (the resample fills it black)', () => {
    expect(refineView({ x: 0, y: 0, width: 10, height: 10 }, 3)).toEqual({ x: -10, y: -10, width: 30, height: 30 });
  });
});

describe('pickRefinement', () => {
  const face = (x: number, score: number) => ({ box: { x, y: 0, width: 30, height: 30 }, score });
  const far = { x: 0, y: 0, width: 34, height: 34 };

  it('takes the best-scoring short-range face that overlaps the far box', () => {
    const near = [face(2, 0.7), face(1, 0.9), face(200, 0.99)];
    expect(pickRefinement(far, near, 0.3)).toBe(near[1]);
  });

  it('takes none when nothing overlaps by more than the threshold, so the far box stands', () => {
    // IoU of a 30-px box 20 px to the right with the 34-px far box: 14·30 / (34² + 30² − 14·30) ≈ 0.26.
    expect(pickRefinement(far, [face(20, 0.95), face(200, 0.99)], 0.3)).toBeUndefined();
    expect(pickRefinement(far, [], 0.3)).toBeUndefined();
  });
});

describe('ViewCycle', () => {
  it('takes each cycled view in turn and starts again for a frame of another size', () => {
    const cycle = new ViewCycle<string>(1000);
    const taken = Array.from({ length: 6 }, (_, i) => cycle.take(640, 480, 192, 33 * i)!.index);
    expect(taken).toEqual([0, 1, 2, 3, 4, 0]);
    expect(cycle.take(1280, 720, 192, 200)).toEqual({ view: cycledViews(1280, 720, 192)[0], index: 0 });
  });

  it('holds what each view found until it is looked at again, however slow the frames', () => {
    const cycle = new ViewCycle<string>(1000);
    let now = 0;
    // Two frames a second: a slow device.
    const step = (found: string[]) => cycle.swap(cycle.take(640, 480, 192, (now += 500))!.index, found);
    expect(step(['far face in tile 0'])).toEqual([]);
    expect(step([])).toEqual(['far face in tile 0']);
    expect(step(['in tile 2'])).toEqual(['far face in tile 0']);
    expect(step([])).toEqual(['far face in tile 0', 'in tile 2']);
    expect(step([])).toEqual(['far face in tile 0', 'in tile 2']);
    // Tile 0 again: its face is gone now.
    expect(step([])).toEqual(['in tile 2']);
  });

  it('forgets what it held when the frame size changes or frames stop for longer than the gap', () => {
    const cycle = new ViewCycle<string>(1000);
    cycle.swap(cycle.take(640, 480, 192, 0)!.index, ['a face']);
    expect(cycle.swap(cycle.take(1280, 720, 192, 33)!.index, [])).toEqual([]);
    cycle.swap(cycle.take(640, 480, 192, 66)!.index, ['a face']);
    // A new camera, or the tab shown again, more than a second later.
    const { index } = cycle.take(640, 480, 192, 1100)!;
    expect(index).toBe(0);
    expect(cycle.swap(index, [])).toEqual([]);
  });

  it('looks at a view on one frame in `every`, holding everything found in between', () => {
    const cycle = new ViewCycle<string>(1000, 3);
    const turns = Array.from({ length: 7 }, (_, i) => cycle.take(640, 480, 192, 33 * i)?.index ?? null);
    expect(turns).toEqual([0, null, null, 1, null, null, 2]);
    cycle.swap(2, ['far face']);
    expect(cycle.take(640, 480, 192, 231)).toBeNull();
    expect(cycle.held()).toEqual(['far face']);
  });

  it('counts the frames between views against the gap, so slow frames keep what was found', () => {
    const cycle = new ViewCycle<string>(1000, 3);
    cycle.swap(cycle.take(640, 480, 192, 0)!.index, ['far face']);
    // Frames 600 ms apart: views 1.8 s apart, each frame within the gap of the one before.
    expect(cycle.take(640, 480, 192, 600)).toBeNull();
    expect(cycle.take(640, 480, 192, 1200)).toBeNull();
    expect(cycle.swap(cycle.take(640, 480, 192, 1800)!.index, [])).toEqual(['far face']);
  });

  it('starts a new video on a view frame', () => {
    const cycle = new ViewCycle<string>(1000, 3);
    cycle.take(640, 480, 192, 0);
    cycle.take(640, 480, 192, 33);
    expect(cycle.take(1280, 720, 192, 66)).toEqual({ view: cycledViews(1280, 720, 192)[0], index: 0 });
  });
});

describe('oneBoxPerFace', () => {
  const face = (x: number, y: number, side: number, score: number) => ({
    box: { x, y, width: side, height: side },
    score,
  });

  it('drops a small box inside a face that IoU suppression keeps, and keeps faces side by side', () => {
    const biden = face(215, 153, 51, 0.91);
    const eye = face(229, 163, 22, 0.55);
    const obama = face(398, 164, 52, 0.82);
    expect(oneBoxPerFace([eye, obama, biden], 0.3)).toEqual([biden, obama]);
  });

  it('suppresses overlapping boxes of one face as IoU suppression does, keeping the higher score', () => {
    const a = face(100, 100, 50, 0.7);
    const b = face(104, 102, 50, 0.9);
    expect(oneBoxPerFace([a, b], 0.3)).toEqual([b]);
  });
});

describe('addHeld', () => {
  const face = (x: number, y = 0, side = 50, id = `${x},${y}`) => ({ box: { x, y, width: side, height: side }, id });

  it('adds held faces that are not a fresh face, and drops those that overlap one', () => {
    const fresh = [face(0), face(100)];
    const held = [face(5), face(300), face(320)];
    // 5 overlaps 0 (IoU 0.82); 320 overlaps 300, which was added first among the held.
    expect(addHeld(fresh, held, 0.3).map((f) => f.id)).toEqual(['0,0', '100,0', '300,0']);
  });

  it('takes a held box that lags its moving face as that face: it holds the fresh box’s centre, or the reverse', () => {
    // IoU 0.19, but the fresh face's centre (50, 25) lies in the held box.
    expect(addHeld([face(25, 0)], [face(45, 10, 70)], 0.3)).toHaveLength(1);
    // A small far face held beside a large fresh one, not inside it: both stay.
    expect(addHeld([face(0, 0, 100)], [face(100, 0, 30)], 0.3)).toHaveLength(2);
  });

  it('keeps faces side by side, whose boxes touch', () => {
    expect(addHeld([face(0)], [face(45)], 0.3)).toHaveLength(2);
  });
});
