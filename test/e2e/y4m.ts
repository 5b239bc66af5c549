import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';

/**
 * Writes a photo as a one-frame YUV4MPEG2 video for Chromium's `--use-file-for-fake-video-capture`, which loops
 * it as a camera. The photo is scaled to cover width×height (cropping the overflow, like a camera sensor would)
 * and converted to I420 with BT.601 limited-range coefficients, which Chromium's decoder assumes.
 */
export async function writeY4m(photo: string, out: string, width = 640, height = 480): Promise<void> {
  const { data } = await sharp(photo)
    .rotate()
    .resize(width, height, { fit: 'cover' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc(u.length);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [data[3 * i], data[3 * i + 1], data[3 * i + 2]];
    y[i] = Math.round(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256);
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
        const i = 3 * ((2 * cy + dy) * width + 2 * cx + dx);
        r += data[i] / 4;
        g += data[i + 1] / 4;
        b += data[i + 2] / 4;
      }
      const j = cy * (width / 2) + cx;
      u[j] = Math.round(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256);
      v[j] = Math.round(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256);
    }
  }
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\nFRAME\n`);
  await writeFile(out, Buffer.concat([header, y, u, v]));
}
