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
  prepareDatasets,
  summarisePrepare,
} from './common';

const HELP = `Usage: npm run prepare-data -- [--data <dir> …] [--workers <n>]

Detects the face in every image of one or more datasets with BlazeFace (the app's detector) and caches its
64×64 crop, cut with the app's crop code, under training/.cache/crops. Interrupted runs resume where they
stopped; 'npm run train' runs this step itself, so calling it alone is only needed to prepare ahead of time.

Crops are keyed by the content of each file, so a copy of the data, or a photo under another name, is not
cropped again; files seen before at the same path, size and mtime are not even read. At the end, records no
current file uses (of these folders, or of any other folder cropped into the cache before) are pruned.

  --data <dir>   Kaggle layout {Train,Validation,Test}/{Male,Female}/*.jpg, or {Male,Female}/*.jpg; repeat it
                 for several folders, as 'npm run train' takes them
                 (default: gender-recognition-200k-images-celeba/Dataset)
  --workers <n>  threads that detect and crop faces (default: one per core); any number gives the same crops
  -h, --help     this text

Files that cannot be used (unreadable or not an image, empty, hidden, broken links, no face found) are skipped,
counted and listed with the reason, and written to no-face.txt / skipped.txt in the cache folder (every
folder's, by path).
$FACESENSE_CROP_CACHE moves the crop cache elsewhere.

Exit codes: 0 every image gave a crop; 3 done, but some files were skipped (listed);
1 error (no dataset at that path, no usable image); 2 bad arguments.`;

const { values } = parseCommandLine(HELP, {
  options: {
    data: { type: 'string', multiple: true },
    workers: { type: 'string', default: String(availableParallelism()) },
    help: { type: 'boolean', short: 'h' },
  },
});
const workers = intOption('workers', values.workers) as number;
assertBlazeFaceInstalled();
const datasets = (values.data ?? [undefined]).map((dir) => openDataset(dir));
// As train, export and evaluate: the same kernels find the same faces.
await initTrainingBackend();
const { cache, results } = await prepareDatasets(datasets, undefined, workers);
console.log(datasets.map((dataset, i) => summarisePrepare(dataset, results[i], cache.dir)).join('\n\n'));
const noFace = results.flatMap((r) => r.noFace.map((n) => `${n.entry.path}\t${n.reason}`));
const skipped = datasets.flatMap((dataset, i) => [
  ...dataset.skipped.map((s) => `${join(dataset.root, s.name)}\t${s.reason}`),
  ...results[i].unreadable.map((u) => `${u.entry.path}\t${u.reason}`),
]);
writeFileSync(join(cache.dir, 'no-face.txt'), noFace.map((l) => l + '\n').join(''));
writeFileSync(join(cache.dir, 'skipped.txt'), skipped.map((l) => l + '\n').join(''));
cache.close();
const faceless = datasets.find((_, i) => results[i].usable.length === 0);
if (faceless) fail(`no face found in any image of ${faceless.root}: expected photos of faces`);
process.exit(skipped.length + noFace.length > 0 ? EXIT.skipped : EXIT.ok);
