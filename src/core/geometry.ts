/** Axis-aligned rectangle in pixels of some image. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type Point = [x: number, y: number];

/** Normalized box in the order `tf.image.cropAndResize` wants: [y1, x1, y2, x2], each a fraction of the image. */
export type NormalizedBox = [y1: number, x1: number, y2: number, x2: number];

export function toNormalizedBox(box: Box, imageWidth: number, imageHeight: number): NormalizedBox {
  return [
    box.y / imageHeight,
    box.x / imageWidth,
    (box.y + box.height) / imageHeight,
    (box.x + box.width) / imageWidth,
  ];
}

/**
 * The square of side max(width, height) that shares the image's centre. BlazeFace squashes whatever it is given
 * to 128×128; giving it this square (padded where it runs past the image) keeps faces undistorted.
 */
export function letterboxSquare(imageWidth: number, imageHeight: number): Box {
  const side = Math.max(imageWidth, imageHeight);
  return { x: (imageWidth - side) / 2, y: (imageHeight - side) / 2, width: side, height: side };
}

/** `box` grown (or shrunk) by `factor` about its centre. */
export function scaleBox(box: Box, factor: number): Box {
  const width = box.width * factor;
  const height = box.height * factor;
  return { x: box.x + (box.width - width) / 2, y: box.y + (box.height - height) / 2, width, height };
}

/** Maps a point from a box resampled to `size`×`size` back to the image the box was taken from. */
export function fromSquare(point: Point, square: Box, size: number): Point {
  return [square.x + (point[0] * square.width) / size, square.y + (point[1] * square.height) / size];
}

export function iou(a: Box, b: Box): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width);
  const y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}
