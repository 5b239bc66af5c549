/**
 * How still a live face's box stays while the face does: each photo is shown as a still video (the same frame 40
 * times, 15 fps) to the live detector and the FaceTracker, and for every face the lowest IoU between one frame's box
 * and the next is reported, for the box found (the classifier's crop) and for the box shown. Run:
 *   npx tsx training/experiments/box-steadiness.ts ../shared/data/scenes/crowd_retinaface_img3.jpg …
 */
import { iou, type Box } from '../../src/core/geometry';
import { DEFAULT_POLICY } from '../../src/core/labels';
import { quantile } from '../../src/core/stats';
import { FaceTracker } from '../../src/core/tracking';
import { loadBlazeFace } from '../../src/vision/detector';
import { decodeImage, imageTensor } from '../lib/data/images';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { blazeFaceModels } from '../lib/node-io';

const FRAMES = 40;
/** Frames before the view cycle has looked everywhere once, and new faces have appeared. */
const WARM_UP = 10;
const FRAME_MS = 1000 / 15;

await initTrainingBackend();
const detector = await loadBlazeFace(blazeFaceModels());
const lowest = (boxes: Box[]) => Math.min(...boxes.slice(1).map((b, k) => iou(b, boxes[k])));
const row = (values: number[]) =>
  `lowest ${Math.min(...values).toFixed(3)}, median face ${quantile(values, 0.5).toFixed(3)}`;
for (const file of process.argv.slice(2)) {
  const image = imageTensor(await decodeImage(file));
  const tracker = new FaceTracker(DEFAULT_POLICY);
  const tracks = new Map<number, { found: Box[]; shown: Box[] }>();
  for (let i = 0; i < FRAMES; i++) {
    const faces = await detector.detect(image);
    const tracked = tracker.update(
      faces.map((f) => f.box),
      i * FRAME_MS,
    );
    if (i < WARM_UP) continue;
    for (const { track, box, shown } of tracked) {
      const boxes = tracks.get(track) ?? tracks.set(track, { found: [], shown: [] }).get(track)!;
      boxes.found.push(box);
      boxes.shown.push(shown);
    }
  }
  image.dispose();
  const steady = [...tracks.values()].filter((t) => t.found.length === FRAMES - WARM_UP);
  console.log(`${file.split('/').pop()}: ${steady.length} faces on every frame`);
  console.log(`  found: ${row(steady.map((t) => lowest(t.found)))}`);
  console.log(`  shown: ${row(steady.map((t) => lowest(t.shown)))}`);
}
detector.dispose();
