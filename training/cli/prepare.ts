import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import {
  assertBlazeFaceInstalled,
  EXIT,
  fail,
  intOption,
  openDataset,
  parseCommandLine,
  prepareDataset,
  summarisePrepare,
} from './common';

const HELP = `Usage: npm run prepare-data -- [--data <dir>] [--workers <n>]

Detects the face in every image of a dataset with BlazeFace (the app's detector) and caches its 64×64 crop,
cut with the app's crop code, under training/.cache/crops. Interrupted runs resume where they stopped;
'npm run train' runs this step itself, so calling it alone is only needed to prepare ahead of time.

Crops are keyed by the content of each file, so a copy of the data, or a photo under another name, is not
cropped again; files seen before at the same path, size and mtime are not even read. At the end, records no
current file uses (of this folder, or of any other folder cropped into the cache before) are pruned.

  --data <dir>   Kaggle layout {Train,Validation,Test}/{Male,Female}/*.jpg, or {Male,Female}/*.jpg
                 (default: gender-recognition-200k-images-celeba/Dataset)
  --workers <n>  threads that detect and crop faces (default: one per core); any number gives the same crops
  -h, --help     this text

Files that cannot be used (unreadable or not an image, empty, hidden, broken links, no face found) are skipped,
counted and listed with the reason, and written to no-face.txt / skipped.txt in the cache folder.
$FACESENSE_CROP_CACHE moves the crop cache elsewhere.

Exit codes: 0 every image gave a crop; 3 done, but some files were skipped (listed);
1 error (no dataset at that path, no usable image); 2 bad arguments.`;

const { values } = parseCommandLine(HELP, {
  options: {
    data: { type: 'string' },
    workers: { type: 'string', default: String(availableParallelism()) },
    help: { type: 'boolean', short: 'h' },
  },
});
const workers = intOption('workers', values.workers) as number;
assertBlazeFaceInstalled();
const dataset = openDataset(values.data);
// As train, export and evaluate: the same kernels find the same faces.
await initTrainingBackend();
const { cache, result } = await prepareDataset(dataset, undefined, workers);
console.log(summarisePrepare(dataset, result, cache.dir));
writeFileSync(join(cache.dir, 'no-face.txt'), result.noFace.map((n) => `${n.entry.path}\t${n.reason}\n`).join(''));
const skipped = [
  ...dataset.skipped.map((s) => `${s.name}\t${s.reason}`),
  ...result.unreadable.map((u) => `${u.entry.path}\t${u.reason}`),
];
writeFileSync(join(cache.dir, 'skipped.txt'), skipped.map((l) => l + '\n').join(''));
cache.close();
if (result.usable.length === 0) fail(`no face found in any image of ${dataset.root}: expected photos of faces`);
process.exit(skipped.length + result.noFace.length > 0 ? EXIT.skipped : EXIT.ok);
