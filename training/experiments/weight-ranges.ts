/**
 * Why one export loses more to uint8 than another (§50 of docs/experiments.md): uint8 keeps one range per tensor, so
 * a tensor whose largest weight grows gets a coarser step for all of its weights. Folds BatchNorm into the
 * convolutions as the export does, and prints each tensor whose largest |weight| differs by more than 1.5× between
 * two models, with its 99th percentile. Run:
 *   npx tsx training/experiments/weight-ranges.ts training/runs/sl6/best training/runs/sd20/best
 * (a run's `best` or `epochs/NNN` folder: float32, BatchNorm not yet folded).
 */
import { initTrainingBackend } from '../lib/fit/wasm/setup';
import { foldBatchNorm } from '../lib/model/fold';
import { loadModelFiles } from '../lib/model/model-files';

const dirs = process.argv.slice(2);
if (dirs.length !== 2) {
  console.error('usage: weight-ranges.ts <model dir> <model dir>');
  process.exit(2);
}
await initTrainingBackend();
const [a, b] = await Promise.all(
  dirs.map(async (dir) => {
    const folded = await foldBatchNorm(await loadModelFiles(dir));
    return folded.weights.map((w) => {
      const magnitudes = Array.from(w.read().dataSync(), Math.abs).sort((x, y) => x - y);
      return {
        // tfjs numbers repeated names (depthwise_kernel_2): the layer and weight are the same in both.
        name: w.name.replace(/_\d+$/, ''),
        size: magnitudes.length,
        max: magnitudes.at(-1)!,
        p99: magnitudes[Math.floor(magnitudes.length * 0.99)],
      };
    });
  }),
);
console.log(`tensor, weights: max |w| and 99th percentile in ${dirs[0]} | in ${dirs[1]}`);
a.forEach((x, i) => {
  const y = b[i];
  if (Math.max(x.max / y.max, y.max / x.max) > 1.5)
    console.log(
      `${x.name}, ${x.size}: ${x.max.toFixed(3)} ${x.p99.toFixed(3)} | ${y.max.toFixed(3)} ${y.p99.toFixed(3)}`,
    );
});
