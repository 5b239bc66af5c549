import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';

export interface Y4mOptions {
  width: number;
  height: number;
  /** Frames in the file; Chromium loops them. */
  frames: number;
  /** Amplitude of uniform per-pixel noise added to each frame's luma, like a camera sensor's. */
  noise: number;
  /**
   * Camera motion as a fraction of the frame: each frame is a window of the photo (scaled to cover 1 + pan times
   * the frame) that goes once around an ellipse over the video, so faces move and change in scale slightly.
   */
  pan: number;
}

/**
 * Writes a photo (a file or its bytes) as a YUV4MPEG2 video for Chromium's `--use-file-for-fake-video-capture`, which loops it as a
 * camera. The photo is scaled to cover width×height (cropping the overflow, like a camera sensor would) and
 * converted to I420 with BT.601 limited-range coefficients, which Chromium's decoder assumes. By default one
 * still frame; `frames`, `noise` and `pan` make a video that changes from frame to frame.
 */
export async function writeY4m(photo: string | Buffer, out: string, options: Partial<Y4mOptions> = {}): Promise<void> {
  const { width = 640, height = 480, frames = 1, noise = 0, pan = 0 } = options;
  const sourceWidth = Math.round(width * (1 + pan));
  const sourceHeight = Math.round(height * (1 + pan));
  const { data } = await sharp(photo)
    .rotate()
    .resize(sourceWidth, sourceHeight, { fit: 'cover' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const parts = [Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < frames; f++) {
    const angle = (2 * Math.PI * f) / frames;
    const left = Math.round(((sourceWidth - width) * (1 + Math.cos(angle))) / 2);
    const top = Math.round(((sourceHeight - height) * (1 + Math.sin(angle))) / 2);
    const rgb = (x: number, y: number) => 3 * ((top + y) * sourceWidth + left + x);
    const y = Buffer.alloc(width * height);
    const u = Buffer.alloc((width / 2) * (height / 2));
    const v = Buffer.alloc(u.length);
    for (let row = 0; row < height; row++) {
      for (let col = 0; col < width; col++) {
        const i = rgb(col, row);
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        const luma = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256 + noise * (2 * random() - 1);
        y[row * width + col] = Math.round(Math.min(255, Math.max(0, luma)));
      }
    }
    for (let cy = 0; cy < height / 2; cy++) {
      for (let cx = 0; cx < width / 2; cx++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (const [dx, dy] of [
          [0, 0],
          [1, 0],
          [0, 1],
          [1, 1],
        ]) {
          const i = rgb(2 * cx + dx, 2 * cy + dy);
          r += data[i] / 4;
          g += data[i + 1] / 4;
          b += data[i + 2] / 4;
        }
        const j = cy * (width / 2) + cx;
        u[j] = Math.round(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256);
        v[j] = Math.round(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256);
      }
    }
    parts.push(Buffer.from('FRAME\n'), y, u, v);
  }
  await writeFile(out, Buffer.concat(parts));
}
