import type { Box, Point } from './geometry';

export interface Size {
  width: number;
  height: number;
}

/** The CSS `object-fit` values a replaced element (video, img, canvas) can take. */
export type ObjectFit = 'contain' | 'cover' | 'fill' | 'none' | 'scale-down';

/**
 * How pixels of a source (video frame, photo) land in the element that shows it: a scale per axis, then an offset
 * (`object-position` 50% 50%), then an optional horizontal mirror of the whole element (`transform: scaleX(-1)`).
 */
export interface ViewTransform {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
  mirrored: boolean;
  viewWidth: number;
}

function fitScale(source: Size, view: Size, fit: ObjectFit): [number, number] {
  const sx = view.width / source.width;
  const sy = view.height / source.height;
  switch (fit) {
    case 'fill':
      return [sx, sy];
    case 'cover':
      return [Math.max(sx, sy), Math.max(sx, sy)];
    case 'none':
      return [1, 1];
    case 'scale-down': {
      const s = Math.min(1, sx, sy);
      return [s, s];
    }
    case 'contain':
      return [Math.min(sx, sy), Math.min(sx, sy)];
  }
}

export function viewTransform(source: Size, view: Size, fit: ObjectFit, mirrored = false): ViewTransform {
  if (source.width <= 0 || source.height <= 0) {
    return { scaleX: 0, scaleY: 0, offsetX: 0, offsetY: 0, mirrored, viewWidth: view.width };
  }
  const [scaleX, scaleY] = fitScale(source, view, fit);
  return {
    scaleX,
    scaleY,
    offsetX: (view.width - source.width * scaleX) / 2,
    offsetY: (view.height - source.height * scaleY) / 2,
    mirrored,
    viewWidth: view.width,
  };
}

export function mapPoint([x, y]: Point, t: ViewTransform): Point {
  const vx = t.offsetX + x * t.scaleX;
  return [t.mirrored ? t.viewWidth - vx : vx, t.offsetY + y * t.scaleY];
}

/** A box in source pixels as a box in view pixels; mirroring swaps its left and right edges. */
export function mapBox(box: Box, t: ViewTransform): Box {
  const [x1, y1] = mapPoint([box.x, box.y], t);
  const [x2, y2] = mapPoint([box.x + box.width, box.y + box.height], t);
  return { x: Math.min(x1, x2), y: y1, width: Math.abs(x2 - x1), height: y2 - y1 };
}

/** Reads a computed `object-fit` value, treating anything unknown as the CSS initial value, `fill`. */
export function parseObjectFit(value: string): ObjectFit {
  return (['contain', 'cover', 'fill', 'none', 'scale-down'] as const).find((f) => f === value) ?? 'fill';
}
