import * as tf from '@tensorflow/tfjs-core';
import { resolve } from 'node:path';
import { verdict } from '../../src/core/labels';
import { cropFaces } from '../../src/vision/crop';
import { loadBlazeFace } from '../../src/vision/detector';
import { assertBlazeFaceInstalled, DEFAULT_MODEL_DIR, EXIT, fail, loadClassifierDir, parseCommandLine } from './common';
import { decodeImage, imageTensor } from '../lib/data/images';
import { BLAZEFACE_MODEL, fileModelHandler } from '../lib/node-io';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

const HELP = `Usage: npm run predict -- [--json] [--model <dir>] <image> [<image> ...]

Finds every face in each image with BlazeFace, crops it as the app does and labels it with the gender model:
"female 0.93", "male 0.88" or "uncertain" when the score is close to the threshold.

  --json          print one JSON array on stdout, one entry per input in the order given:
                  {"file", "faces": [{"box": [x, y, width, height], "detectionScore", "label",
                  "probabilityMale", "confidence"}], "error"?} with faces sorted by detection score and
                  boxes in pixels of the upright photo
  --model <dir>   exported model folder (default public/models/gender)
  -h, --help      this text

Exit codes: 0 a face was found in every image; 3 some image had no face or could not be read (each says so,
and a count goes to stderr); 1 error (model missing); 2 bad arguments.`;

interface FaceResult {
  box: [number, number, number, number];
  detectionScore: number;
  label: string;
  probabilityMale: number;
  confidence: number;
}

const { values, positionals: files } = parseCommandLine(HELP, {
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    help: { type: 'boolean', short: 'h' },
  },
});
if (files.length === 0) fail('no image given (see --help)', EXIT.usage);
assertBlazeFaceInstalled();
// Diagnostics go to stderr so that --json output stays parseable.
console.log = console.error;
await initTrainingBackend();
const detector = await loadBlazeFace(fileModelHandler(BLAZEFACE_MODEL));
const classifier = await loadClassifierDir(resolve(values.model));
const { crop, policy } = classifier.metadata;

const round = (x: number, digits: number) => Number(x.toFixed(digits));
const results: { file: string; faces: FaceResult[]; error?: string }[] = [];
for (const file of files) {
  let decoded;
  try {
    decoded = await decodeImage(file);
  } catch (err) {
    results.push({ file, faces: [], error: (err as Error).message.split('\n')[0] });
    continue;
  }
  const image = imageTensor(decoded);
  const faces = await detector.detect(image, { still: true });
  const crops = cropFaces(
    image,
    faces.map((f) => f.box),
    crop,
  );
  const probs = await classifier.classify(crops);
  tf.dispose([image, crops]);
  results.push({
    file,
    faces: faces.map((f, i) => {
      const v = verdict(probs[i], policy);
      return {
        // In the file's pixels: large photos were scaled down to be decoded.
        box: [f.box.x, f.box.y, f.box.width, f.box.height].map((n) => round(n * decoded.scale, 1)) as FaceResult['box'],
        detectionScore: round(f.score, 4),
        label: v.label,
        probabilityMale: round(v.probabilityMale, 4),
        confidence: round(v.confidence, 4),
      };
    }),
  });
}
detector.dispose();
classifier.dispose();

if (values.json) {
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
} else {
  for (const r of results) {
    if (r.error) process.stdout.write(`${r.file}: cannot read: ${r.error}\n`);
    else if (r.faces.length === 0) process.stdout.write(`${r.file}: no face found\n`);
    else {
      process.stdout.write(`${r.file}: ${r.faces.length} face${r.faces.length > 1 ? 's' : ''}\n`);
      for (const f of r.faces) {
        const shown =
          f.label === 'uncertain'
            ? `uncertain (male ${f.probabilityMale.toFixed(2)})`
            : `${f.label} ${f.confidence.toFixed(2)}`;
        process.stdout.write(`  [${f.box.join(', ')}] ${shown} (detection ${f.detectionScore.toFixed(2)})\n`);
      }
    }
  }
}
const unreadable = results.filter((r) => r.error).length;
const noFace = results.filter((r) => !r.error && r.faces.length === 0).length;
console.log(
  `${files.length} images: ${files.length - unreadable - noFace} with a face, ${noFace} without, ${unreadable} unreadable`,
);
process.exit(unreadable + noFace > 0 ? EXIT.skipped : EXIT.ok);
