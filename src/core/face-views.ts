/**
 * Which squares of an image the far-face detector looks at, and how what it finds there becomes one list of faces.
 *
 * The full-range model sees a fixed 192×192 input. The whole frame squeezed into it finds faces down to about 15 px
 * at 640×480; overlapping tiles of about 5/8 of the longer side find them down to about 24 px. A still gets the whole
 * image and every tile in one batch. A live frame gets the whole frame and one more view, a different one each
 * frame (`ViewCycle`): the tiles in turn, then the frame inside a border, where a face that fills the frame has the
 * room around it the model needs. What a view found is held until that view is looked at again, so a far face is
 * reported on every frame, not one frame in five.
 */
import { iou, letterboxSquare, scaleBox, type Box, type Point } from './geometry';

/** Side of a tile as a share of the image's longer side: 2×2 tiles overlapping by a quarter of their side. */
export const TILE_SHARE = 0.625;

/**
 * Overlapping square tiles covering the image, each `TILE_SHARE` of its longer side, evenly spread along each axis.
 * None when a tile would be at most `minSide` px: the whole image resampled to the model's input then shows faces
 * as large as a tile would.
 */
export function tileSquares(width: number, height: number, minSide: number): Box[] {
  const side = TILE_SHARE * Math.max(width, height);
  if (side <= minSide) return [];
  // Neighbours overlap by at least a quarter of a tile; an axis shorter than a tile gets one, centred.
  const starts = (length: number) => {
    if (length <= side) return [(length - side) / 2];
    const n = Math.ceil((length - side) / (0.75 * side)) + 1;
    return Array.from({ length: n }, (_, i) => (i * (length - side)) / (n - 1));
  };
  return starts(height).flatMap((y) => starts(width).map((x) => ({ x, y, width: side, height: side })));
}

/** How much larger than the frame the bordered view is: room around a face that fills the frame. */
export const BORDER_SCALE = 1.5;

/** The views of a still, all looked at together: the whole image (letterboxed), then its tiles. */
export function stillViews(width: number, height: number, minTileSide: number): Box[] {
  return [letterboxSquare(width, height), ...tileSquares(width, height, minTileSide)];
}

/** The views that live frames take turns with, after the whole frame: the tiles, then the bordered frame. */
export function cycledViews(width: number, height: number, minTileSide: number): Box[] {
  return [...tileSquares(width, height, minTileSide), scaleBox(letterboxSquare(width, height), BORDER_SCALE)];
}

/** A point of a view resampled to `size`×`size`, in pixels of the image the view was taken from. */
export function fromView(point: Point, view: Box, size: number): Point {
  return [view.x + (point[0] * view.width) / size, view.y + (point[1] * view.height) / size];
}

/**
 * The full-range model's box in the short-range model's convention, which the classifier was trained on and the
 * scene fixture follows: on faces both find (CelebA Test crops and the scene photos), the full-range box is 7.5 %
 * wider and taller and its centre 5 % of the height higher.
 */
export function toShortRangeBox(box: Box): Box {
  const side = 1 / 1.075;
  const width = box.width * side;
  const height = box.height * side;
  return {
    x: box.x + (box.width - width) / 2,
    y: box.y + (box.height - height) / 2 + 0.05 * height,
    width,
    height,
  };
}

/**
 * The square about a face's centre, `scale` times its longer side, in which the short-range model looks at a face
 * the full-range model found: the face then fills 1/`scale` of the short-range model's input, as it did in the
 * photos the classifier's crops were cut from.
 */
export function refineView(box: Box, scale: number): Box {
  const side = scale * Math.max(box.width, box.height);
  return {
    x: box.x + box.width / 2 - side / 2,
    y: box.y + box.height / 2 - side / 2,
    width: side,
    height: side,
  };
}

/**
 * The short-range model's face for a face the full-range model found at `far`: of what it found in the face's
 * refineView, the best-scoring one that overlaps `far` by more than `minIou`, as its own suppression would keep
 * it; undefined when there is none, and the far box stands.
 */
export function pickRefinement<T extends { box: Box; score: number }>(
  far: Box,
  near: readonly T[],
  minIou: number,
): T | undefined {
  let best: T | undefined;
  for (const face of near) {
    if (iou(face.box, far) > minIou && (!best || face.score > best.score)) best = face;
  }
  return best;
}

/**
 * Takes the live frames' second view in turn, on one frame in `every`, and remembers what each view found until it
 * is looked at again. Generic in what a face is, so the detector can keep its own type.
 */
export class ViewCycle<T> {
  private next = 0;
  private frame = 0;
  private found: T[][] = [];
  private key = '';
  private last = -Infinity;

  /**
   * `newVideoGapMs`: a frame that long after the previous one starts again, forgetting what was held. `every`:
   * a view is looked at on one frame in that many; the frames between look at the whole frame only.
   */
  constructor(
    private readonly newVideoGapMs: number,
    private readonly every = 1,
  ) {}

  /**
   * The view to look at in this frame of `width`×`height`, taken at `now` (ms), and its index, or null when this
   * frame looks at none. A frame of another size, or one more than `newVideoGapMs` after the previous, starts the
   * cycle again with nothing held.
   */
  take(width: number, height: number, minTileSide: number, now: number): { view: Box; index: number } | null {
    const views = cycledViews(width, height, minTileSide);
    const key = `${width}x${height}`;
    if (key !== this.key || now - this.last > this.newVideoGapMs) {
      [this.key, this.next, this.frame, this.found] = [key, 0, 0, views.map(() => [])];
    }
    this.last = now;
    if (this.frame++ % this.every !== 0) return null;
    const index = this.next;
    this.next = (index + 1) % views.length;
    return { view: views[index], index };
  }

  /** Records what view `index` found now, and returns what every other view found when it was last looked at. */
  swap(index: number, found: T[]): T[] {
    this.found[index] = found;
    return this.found.filter((_, i) => i !== index).flat();
  }

  /** What every view found when it was last looked at, for a frame that looks at none. */
  held(): T[] {
    return this.found.flat();
  }
}

/**
 * `fresh` (this frame's faces) with the `held` faces (found in earlier frames) added that are not one of them. A
 * held box may lag a moving face by a few frames, so it is the same face when it overlaps a fresh box by more than
 * `maxIou` or either holds the other's centre; faces of two people side by side do neither.
 */
export function addHeld<T extends { box: Box }>(fresh: readonly T[], held: readonly T[], maxIou: number): T[] {
  const centreIn = (a: Box, b: Box) => {
    const [x, y] = [a.x + a.width / 2, a.y + a.height / 2];
    return x >= b.x && x <= b.x + b.width && y >= b.y && y <= b.y + b.height;
  };
  const same = (a: Box, b: Box) => iou(a, b) > maxIou || centreIn(a, b) || centreIn(b, a);
  const out = [...fresh];
  for (const face of held) if (out.every((f) => !same(f.box, face.box))) out.push(face);
  return out;
}

/**
 * `faces`, highest score first, without any that is the same face, by `addHeld`'s test, as one kept before it:
 * greedy suppression by IoU that also drops a small box inside a face, which a tile's closer look sometimes adds
 * (an eye and brow scored as a face).
 */
export function oneBoxPerFace<T extends { box: Box; score: number }>(faces: readonly T[], maxIou: number): T[] {
  return addHeld(
    [],
    [...faces].sort((a, b) => b.score - a.score),
    maxIou,
  );
}
