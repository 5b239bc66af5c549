import { join } from 'node:path';
import sharp from 'sharp';
import { SCENES } from './harness';

/** Two people side by side; their faces are 150 and 171 px wide in the 1126×661 photo. */
const PAIR = 'pair_facerec_two_people.jpg';
/** Scaled to this width the faces are about 50 and 57 px wide: two people some 2.5 m from a laptop's webcam. */
const PAIR_WIDTH = 370;

/**
 * A 640×480 camera picture (JPEG) of two people far off: the photo scaled down in the middle of a grey wall. Short of
 * a sixth of the frame, these faces were never found by the short-range model alone.
 */
export async function farPair(): Promise<Buffer> {
  const people = await sharp(join(SCENES, PAIR)).resize({ width: PAIR_WIDTH }).toBuffer({ resolveWithObject: true });
  return sharp({ create: { width: 640, height: 480, channels: 3, background: '#8a8a86' } })
    .composite([
      {
        input: people.data,
        left: Math.round((640 - people.info.width) / 2),
        top: Math.round((480 - people.info.height) / 2),
      },
    ])
    .jpeg({ quality: 95 })
    .toBuffer();
}
