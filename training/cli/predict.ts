import * as tf from '@tensorflow/tfjs-core';
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatPercent, formatVerdict, verdict, type GenderLabel } from '../../src/core/labels';
import { withFlipAveraging } from '../../src/vision/classifier';
import { cropFaces } from '../../src/vision/crop';
import { loadBlazeFace } from '../../src/vision/detector';
import {
  assertBlazeFaceInstalled,
  DEFAULT_MODEL_DIR,
  EXIT,
  fail,
  loadClassifierDir,
  parseCommandLine,
  progressBar,
} from './common';
import { decodeInOrder, imageTensor } from '../lib/data/images';
import { blazeFaceModels } from '../lib/node-io';
import { initTrainingBackend } from '../lib/fit/wasm/setup';

/** Images in a folder are recognised by name; a file named on the command line is tried whatever its name. */
const IMAGE_NAME = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;
const PROGRESS_FROM = 20;

const HELP = `Usage: npm run predict -- [--json] [--model <dir>] [--list <file>|-] [<image or folder> ...]

Finds every face in each image with BlazeFace, crops it and labels it with the gender model as the app labels
a photo (the face's score averaged with its mirror image's): "female 93%", "male 88%" or "uncertain" when the
score is close to the threshold. A calibrated probability is never certain, so no label says more than 99%.

Images, in the order given:
  <image>         an image file (JPEG, PNG, WebP, GIF, TIFF, AVIF, …), whatever its name
  <folder>        every image in it and its subfolders, in name order; other files (hidden, or not named
                  .jpg .jpeg .png .webp .gif .tif .tiff .avif .bmp) are skipped without a message and counted
                  in the summary
  --list <file>   the images or folders named in <file>, one path per line (blank lines ignored; relative paths
                  from the current folder, as on the command line); --list - reads them from standard input.
                  May be repeated.
For thousands of images pass a folder or a list: a command line with that many paths is too long for npm to
start (it stops with code 249 and prints nothing), e.g.
  find photos -name '*.jpg' | npm run predict -- --list -

  --json          print one JSON array on stdout, one entry per image in the order given:
                  {"file", "faces": [{"box": [x, y, width, height], "detectionScore", "label",
                  "probabilityMale", "confidence"}], "error"?} with faces sorted by detection score and
                  boxes in pixels of the upright photo; a file that could not be read, and a folder that holds
                  no image or cannot be listed, get an entry with "error" saying why
  --model <dir>   exported model folder (default public/models/gender)
  -h, --help      this text

Progress goes to stderr for more than ${PROGRESS_FROM} images.

Exit codes: 0 a face was found in every image; 3 some image had no face or could not be read (each says why,
and a count goes to stderr); 1 error (model missing, --list file unreadable); 2 bad arguments (no image given).`;

interface FaceResult {
  box: [number, number, number, number];
  detectionScore: number;
  label: GenderLabel;
  probabilityMale: number;
  confidence: number;
}

interface Result {
  file: string;
  faces: FaceResult[];
  error?: string;
}

// Tokens rather than positionals: paths and lists are labelled in the order given.
const { values, tokens = [] } = parseCommandLine(HELP, {
  allowPositionals: true,
  tokens: true,
  options: {
    json: { type: 'boolean', default: false },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    list: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  },
});

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** Why `path` cannot be read, in words. */
function statProblem(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return 'symbolic link loop';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOENT') {
    try {
      return lstatSync(path).isSymbolicLink() ? 'broken symbolic link' : 'no such file or folder';
    } catch {
      return 'no such file or folder';
    }
  }
  return (err as Error).message;
}

/** One entry per image to label (`error` set when it cannot be), in order; other files in folders only counted. */
interface Listing {
  entries: Result[];
  skipped: number;
}

/**
 * Adds the images under `dir` to `out`, in name order, following links to files and folders but not back to a
 * folder it is inside (`visited`); returns how many entries it added.
 */
function listFolder(dir: string, out: Listing, visited: Set<string>): number {
  let real: string;
  let dirents: Dirent[];
  try {
    real = realpathSync(dir);
    dirents = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    out.entries.push({ file: dir, faces: [], error: `cannot list this folder: ${statProblem(dir, err)}` });
    return 1;
  }
  // A link back up the tree would list the same images forever.
  if (visited.has(real)) return 0;
  visited.add(real);
  let found = 0;
  for (const d of dirents.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, d.name);
    if (d.name.startsWith('.')) {
      out.skipped++;
      continue;
    }
    let stat;
    try {
      stat = statSync(path);
    } catch (err) {
      // A dangling link named like a photo was meant to be one: say so. Anything else is not an image.
      if (IMAGE_NAME.test(d.name)) {
        out.entries.push({ file: path, faces: [], error: statProblem(path, err) });
        found++;
      } else out.skipped++;
      continue;
    }
    if (stat.isDirectory()) found += listFolder(path, out, visited);
    else if (!stat.isFile() || !IMAGE_NAME.test(d.name)) out.skipped++;
    else {
      out.entries.push(stat.size === 0 ? { file: path, faces: [], error: 'empty file' } : { file: path, faces: [] });
      found++;
    }
  }
  visited.delete(real);
  return found;
}

function listPath(path: string, out: Listing): void {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    out.entries.push({ file: path, faces: [], error: statProblem(path, err) });
    return;
  }
  if (!stat.isDirectory()) {
    out.entries.push(stat.size === 0 ? { file: path, faces: [], error: 'empty file' } : { file: path, faces: [] });
    return;
  }
  const skippedBefore = out.skipped;
  if (listFolder(path, out, new Set()) === 0) {
    const skipped = out.skipped - skippedBefore;
    out.entries.push({
      file: path,
      faces: [],
      error: `no image in this folder${skipped > 0 ? ` (${plural(skipped, 'other file')})` : ''}`,
    });
  }
}

async function readList(file: string): Promise<string[]> {
  let text: string;
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } else text = readFileSync(file, 'utf8');
  } catch (err) {
    fail(`cannot read the list ${file}: ${statProblem(file, err)}`);
  }
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '');
}

const listing: Listing = { entries: [], skipped: 0 };
for (const token of tokens) {
  if (token.kind === 'positional') listPath(token.value, listing);
  else if (token.kind === 'option' && token.name === 'list' && token.value !== undefined) {
    for (const path of await readList(token.value)) listPath(path, listing);
  }
}
const results = listing.entries;
if (results.length === 0) fail('no image given (see --help)', EXIT.usage);

assertBlazeFaceInstalled();
// Diagnostics go to stderr so that --json output stays parseable.
console.log = console.error;
await initTrainingBackend();
const detector = await loadBlazeFace(blazeFaceModels());
const classifier = withFlipAveraging(await loadClassifierDir(resolve(values.model)));
const { crop, policy } = classifier.metadata;

const round = (x: number, digits: number) => Number(x.toFixed(digits));
const todo = results.filter((r) => !r.error);
const bar = todo.length > PROGRESS_FROM ? progressBar('predict', 'img') : undefined;
const started = performance.now();
bar?.start(todo.length, 0, { rate: '-', extra: '' });
let done = 0;
for await (const decoded of decodeInOrder(todo.map((r) => r.file))) {
  const result = todo[done++];
  if (decoded instanceof Error) result.error = decoded.message.split('\n')[0];
  else {
    const image = imageTensor(decoded);
    const faces = await detector.detect(image, { still: true });
    const crops = cropFaces(
      image,
      faces.map((f) => f.box),
      crop,
    );
    const probs = await classifier.classify(crops);
    tf.dispose([image, crops]);
    result.faces = faces.map((f, i) => {
      const v = verdict(probs[i], policy);
      return {
        // In the file's pixels: large photos were scaled down to be decoded.
        box: [f.box.x, f.box.y, f.box.width, f.box.height].map((n) => round(n * decoded.scale, 1)) as FaceResult['box'],
        detectionScore: round(f.score, 4),
        label: v.label,
        probabilityMale: round(v.probabilityMale, 4),
        confidence: round(v.confidence, 4),
      };
    });
  }
  bar?.update(done, { rate: (done / ((performance.now() - started) / 1000)).toFixed(0), extra: '' });
}
bar?.stop();
detector.dispose();
classifier.dispose();

let output: string;
if (values.json) output = JSON.stringify(results, null, 2);
else {
  const lines: string[] = [];
  for (const r of results) {
    if (r.error) lines.push(`${r.file}: cannot read: ${r.error}`);
    else if (r.faces.length === 0) lines.push(`${r.file}: no face found`);
    else {
      lines.push(`${r.file}: ${plural(r.faces.length, 'face')}`);
      for (const f of r.faces) {
        const shown =
          f.label === 'uncertain' ? `uncertain (male ${formatPercent(f.probabilityMale)})` : formatVerdict(f);
        lines.push(`  [${f.box.join(', ')}] ${shown} (detection ${f.detectionScore.toFixed(2)})`);
      }
    }
  }
  output = lines.join('\n');
}
// Sent before the exit below: a pipe can take a long output only in several writes, after this line has returned.
await new Promise((written) => process.stdout.write(output + '\n', written));
const unreadable = results.filter((r) => r.error).length;
const noFace = results.filter((r) => !r.error && r.faces.length === 0).length;
const skipped =
  listing.skipped > 0 ? `; ${plural(listing.skipped, 'other file')} in the folders skipped (not images)` : '';
console.log(
  `${results.length} images: ${results.length - unreadable - noFace} with a face, ${noFace} without, ` +
    `${unreadable} unreadable${skipped}`,
);
process.exit(unreadable + noFace > 0 ? EXIT.skipped : EXIT.ok);
