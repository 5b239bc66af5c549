/** `npm run train`'s command line: its help text, and the options it parses to, checked. */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_CROP } from '../../src/core/crop';
import type { TrainingRecord } from '../../src/core/metadata';
import { AUGMENT_PRESETS } from '../../src/core/augment';
import { EXIT, fail, intOption, parseCommandLine, readModelDir } from './common';
import type { Quantization } from '../lib/model/model-files';
import type { Arch } from '../lib/model/models';
import { REPO_ROOT } from '../lib/node-io';
import { DEFAULT_DATA_DIR } from '../lib/data/dataset';
import { hasCheckpoint, readState } from '../lib/fit/checkpoint';
import { readListedTeacher, type ListedTeacher } from '../lib/fit/distill';
import {
  RECIPES,
  scaleStages,
  type AugmentName,
  type LrSchedule,
  type RecipeName,
  type Stage,
} from '../lib/fit/recipe';

const HELP = `Usage: npm run train -- [options]

Trains the face gender classifier on a folder of face photos and exports the web model the app loads.
Faces are found with BlazeFace and cropped with the app's own crop code first (cached; see prepare-data).

  --data <dir>              a folder of faces: Kaggle layout <dir>/{Train,Validation,Test}/{Male,Female}/*.jpg,
                            or plain <dir>/{Male,Female}/*.jpg (default:
                            gender-recognition-200k-images-celeba/Dataset). Repeat it to train on several folders
                            at once; a folder without faces in Validation/ holds out a tenth of its images, chosen
                            by file name, to validate on
  --recipe shipped|one      shipped (default): the shipped model's schedule, 44 epochs in four stages, each a
                            cosine cycle of the learning rate: 18 epochs at 0.001 with robust augmentation and
                            equal folders, 10 at 0.0005 with diverse 1.5, 8 with far augmentation, 8 with
                            diverse 3 (a folder named diverse; others weigh 1). one: a single stage of 30 epochs
                            at 0.001 with far augmentation and equal folders (the default with --from). The
                            options below that set a stage's epochs, rate, schedule, augmentation or mix change
                            every stage
  --mix <name=w,…>          each folder's share of every batch, by folder name (…/celeba/Dataset is "celeba"),
                            e.g. celeba=1,diverse=1.5 (default: the recipe's)
  --balance <column>        within each folder's women and men, draw the groups of this labels.csv column (age is
                            banded: 13–19, 20–39, 40–59, 60+) by the square root of their size, so rare groups
                            are seen more often; folders without that column are drawn as usual; columns joined
                            by + are crossed, e.g. race+age (default: none)
  --group-dro <η>           with --balance: before each epoch, measure each group's mean loss on its Train crops
                            and multiply its share of its folder's women or men by exp(η × that loss) (group DRO,
                            once an epoch), so the groups fitted worst are drawn more often; the weights compound,
                            and each epoch's places are dealt through its batches, so a group worth under one place
                            a batch is still drawn (default 0, off)
  --female-share <x>        share of female faces in each folder's part of a batch (default 0.5: both classes
                            equally, whatever the folder holds)
  --arch <a>                wide: a separable CNN with ~450k parameters, exported as uint8 to stay under 500 KB
                            (default, or with --from the arch of that model or run); wide8: the same weights with
                            the last block at stride 1, pooling 8×8 features instead of 4×4 (1.27× the work; an
                            exported wide model given to --from is taken as it is); wide64: the wide net with its
                            stem at stride 1 and its first filter 5×5 at stride 2, its first layer computed at
                            every pixel (1.14× the work; an exported wide model given to --from is taken with its
                            first filter's taps spread two apart, the same outputs); deep: the wide net with its
                            first 32×32 and 16×16 blocks each repeated (~490k, 1.5× the work; an exported wide
                            model given to --from is deepened, its added blocks starting as identities); wider:
                            √2 times the wide net's channels (~870k, over 500 KB as uint8: to measure what twice
                            the weights buy; an exported wide model given to --from is widened, Net2Net); compact:
                            the wide net with 1/1.375 of the channels (~240k; an exported compact model given to
                            --from is widened, Net2Net, when training wide); seed: the tutorial's AlexNet-style
                            network
  --epochs <n>              epochs to train, the recipe's stages stretched or shrunk in proportion (default: the
                            recipe's; the tutorial used 50); with --resume, a new total, by changing the last stage
  --bn-momentum <x>         BatchNorm moving-average momentum (default 0.99, as Keras; 0.9 suits short runs,
                            whose moving statistics would otherwise still remember their initial values)
  --batch <n>               images per optimizer step (default 64; the tutorial used 256)
  --micro-batch <n>         images per forward pass and per BatchNorm normalisation (default: min(batch, 32)); a
                            thread's share of each batch is whole micro-batches, so --batch / --micro-batch
                            threads at most have work
  --steps-per-epoch <n>     batches per epoch (default: one full pass over Train; the tutorial used 256)
  --validation-steps <n>    validation batches per epoch (default: all of Validation; the tutorial used 256)
  --crop-scale <x>          side of the face crop as a multiple of BlazeFace's box (default ${DEFAULT_CROP.scale}, as the
                            shipped model: takes in hair and jaw line); the exported metadata carries it, so the
                            app and evaluate crop alike
  --augment <name>          tutorial: the tutorial's ImageDataGenerator (rotation 40°, shifts 0.2, shear 0.2°,
                            zoom 0.2, flip, nearest fill); light: rotation 15°, shifts and zoom 0.1; robust: light,
                            plus brightness, contrast and colour changes and crops cut by the photo's edge (faces
                            in tight photos); far: robust, plus 4 in 10 crops blurred to a face 15–43 px wide with
                            sensor noise (faces from afar); erase: far, plus half the crops with a rectangle of
                            2–20 % of the crop filled with one grey (random erasing: part of the face hidden);
                            blur: light, plus 3 in 10 crops blurred by a Gaussian of σ 0.5–2.5 px (faces out of
                            focus or moving) (default: the recipe's)
  --lr <x>                  Adam learning rate at the start of each stage (default: the recipe's)
  --label-smoothing <ε>     train towards ε/2 and 1 − ε/2 instead of 0 and 1, so that the few wrong labels of a
                            crowd-labelled set (FairFace's) weigh less (default 0; 0.1 is usual)
  --mixup <α>               blend each pair of neighbouring images of a batch, and their labels, by a weight drawn
                            from Beta(α, α) (mixup: a regulariser, and robust to wrong labels; default 0, off;
                            0.2 is usual)
  --sam <ρ>                 sharpness-aware minimisation: each update takes the gradient at the weights moved ρ
                            along the batch's gradient, so that training settles where the loss stays low around
                            it (Foret et al. 2021; twice the work per step; default 0, off; 0.05 is usual)
  --aux <columns>           learn these labels.csv columns too (e.g. race or race,age; age is banded as for
                            --balance), each by a softmax head on the pooled features beside the gender unit,
                            from the images whose folder has them (multi-task learning); the heads are for
                            training only and are not exported (default: none)
  --aux-weight <w>          the heads' cross-entropy's weight in the loss beside the gender loss (default 0.3)
  --teacher <dir>           an exported model folder (e.g. public/models/gender) to distil from: each Train crop is
                            trained towards a blend of its label and the teacher's probability for it, as the app
                            gives it for a photo (calibrated, averaged with the mirror image), computed once
                            before the first epoch; given more than once, the teachers teach as an ensemble (the
                            mean of their logits) (default: none)
  --teacher-probs <file>    one more teacher, for one folder's Train crops: their probabilities in a JSON file
                            ({"source": folder, "probs": {crop name: P(male)}}, e.g. a third-party network's
                            probe: training/experiments/probe-teacher.ts), joining --teacher's mean for them
  --distill <w>             the teacher's share of that blend, at most 0.5 so that the label always decides the
                            side (default 0.5 with --teacher)
  --lr-schedule <s>         cosine: decay the rate to 0 over each stage (default); constant: the tutorial's fixed
                            rate
  --workers <n>             threads that crop faces and share each batch (default: one per core); any number
                            gives the same crops, and the same step up to float rounding
  --seed <n>                seed for initialisation, shuffling and augmentation (default 42)
  --out <dir>               where the best epoch is exported: the one with the highest validation balanced
                            accuracy of its weakest folder
                            (default public/models/gender)
  --quantize <q>            weight encoding of the export: uint8 (default; one range per tensor), float16, float32,
                            or uint4: each kernel's output channels on their own grid of 16 levels, the rest
                            float16, about half of uint8's size (a net of twice the wide net's weights fits 500 KB);
                            a uint4 run trains for it: each gradient is taken at the weights rounded as the export
                            rounds them, and Validation is scored at them (quantization-aware training; not with
                            --sam)
  --run <name>              run folder under training/runs for checkpoints, history and curves (default: the arch)
  --resume                  continue the run's last checkpoint (weights, optimizer state, epoch)
  --from <run|dir>          start a new run from another run's last checkpoint (its weights and optimizer state),
                            with this command's options and schedule, counting epochs from 1: fine-tuning, or
                            a warm restart with other settings (BatchNorm keeps that run's momentum). Or from an
                            exported model folder (model.json, metadata.json; e.g. public/models/gender): its
                            weights, with BatchNorm unfolded on a sample of Train, and Adam starting afresh
  --backend wasm|cpu        tfjs backend (default wasm; falls back to cpu with a warning)
  -h, --help                this text

Files that cannot be used (unreadable or not an image, empty, hidden, broken links, no face found) are skipped,
counted and listed with the reason. $FACESENSE_CROP_CACHE moves the crop cache (training/.cache/crops).
Ctrl-C (or SIGTERM) saves a checkpoint before exiting; --resume continues from it.

Exit codes: 0 trained and exported; 3 trained and exported, but some files were skipped (listed); 1 error (no
dataset at that path, no usable face); 2 bad arguments; 130 stopped by a signal after saving a checkpoint.`;

export function parseTrainOptions() {
  const { values } = parseCommandLine(HELP, {
    options: {
      data: { type: 'string', multiple: true },
      recipe: { type: 'string' },
      mix: { type: 'string' },
      balance: { type: 'string' },
      'female-share': { type: 'string', default: '0.5' },
      'group-dro': { type: 'string', default: '0' },
      arch: { type: 'string' },
      epochs: { type: 'string' },
      'bn-momentum': { type: 'string', default: '0.99' },
      batch: { type: 'string', default: '64' },
      'micro-batch': { type: 'string' },
      'steps-per-epoch': { type: 'string' },
      'validation-steps': { type: 'string' },
      lr: { type: 'string' },
      'lr-schedule': { type: 'string' },
      'label-smoothing': { type: 'string', default: '0' },
      mixup: { type: 'string', default: '0' },
      sam: { type: 'string', default: '0' },
      aux: { type: 'string' },
      'aux-weight': { type: 'string', default: '0.3' },
      teacher: { type: 'string', multiple: true },
      'teacher-probs': { type: 'string' },
      distill: { type: 'string' },
      augment: { type: 'string' },
      'crop-scale': { type: 'string', default: String(DEFAULT_CROP.scale) },
      workers: { type: 'string', default: String(availableParallelism()) },
      seed: { type: 'string', default: '42' },
      out: { type: 'string', default: join(REPO_ROOT, 'public', 'models', 'gender') },
      quantize: { type: 'string', default: 'uint8' },
      run: { type: 'string' },
      resume: { type: 'boolean', default: false },
      from: { type: 'string' },
      backend: { type: 'string', default: 'wasm' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const oneOf = <T extends string>(name: string, v: string, allowed: readonly T[]): T => {
    if (!allowed.includes(v as T)) fail(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`, EXIT.usage);
    return v as T;
  };
  const lr = values.lr === undefined ? undefined : Number(values.lr);
  if (lr !== undefined && !(lr > 0)) fail(`--lr must be a positive number, got "${values.lr}"`, EXIT.usage);
  const bnMomentum = Number(values['bn-momentum']);
  if (!(bnMomentum > 0 && bnMomentum < 1))
    fail(`--bn-momentum must be between 0 and 1, got "${values['bn-momentum']}"`, EXIT.usage);
  const cropScale = Number(values['crop-scale']);
  if (!(cropScale >= 1 && cropScale <= 3))
    fail(`--crop-scale must be between 1 and 3, got "${values['crop-scale']}"`, EXIT.usage);
  const labelSmoothing = Number(values['label-smoothing']);
  if (!(labelSmoothing >= 0 && labelSmoothing < 0.5))
    fail(`--label-smoothing must be at least 0 and below 0.5, got "${values['label-smoothing']}"`, EXIT.usage);
  const mixup = Number(values.mixup);
  if (!(mixup >= 0 && mixup <= 10)) fail(`--mixup must be between 0 and 10, got "${values.mixup}"`, EXIT.usage);
  const sam = Number(values.sam);
  if (!(sam >= 0 && sam <= 1)) fail(`--sam must be between 0 and 1, got "${values.sam}"`, EXIT.usage);
  const quantize = oneOf<Quantization>('quantize', values.quantize, ['uint8', 'float16', 'float32', 'uint4']);
  if (sam > 0 && quantize === 'uint4')
    fail('--sam moves the weights off the grid that --quantize uint4 trains on: pass one of them', EXIT.usage);
  const aux = values.aux?.split(',').map((column) => column.trim()) ?? [];
  if (aux.some((column) => !column) || new Set(aux).size < aux.length)
    fail(`--aux must name labels.csv columns, each once, e.g. race,age; got "${values.aux}"`, EXIT.usage);
  // A head learns one column's classes; crossing (race+age) is --balance's and evaluate --by's.
  if (aux.some((column) => column.includes('+')))
    fail(`--aux learns single columns, e.g. race,age, not crossed ones; got "${values.aux}"`, EXIT.usage);
  if (aux.length > 0 && mixup > 0)
    fail('--aux cannot go with --mixup: a blend of two faces has no one race or age to learn', EXIT.usage);
  const auxWeight = Number(values['aux-weight']);
  if (!(auxWeight > 0 && auxWeight <= 10))
    fail(`--aux-weight must be above 0 and at most 10, got "${values['aux-weight']}"`, EXIT.usage);
  if (values.distill !== undefined && values.teacher === undefined)
    fail('--distill sets the weight of a teacher: pass --teacher <exported model folder> too', EXIT.usage);
  if (values['teacher-probs'] !== undefined && values.teacher === undefined)
    fail('--teacher-probs joins the teachers of --teacher: pass --teacher <exported model folder> too', EXIT.usage);
  const distillWeight = Number(values.distill ?? 0.5);
  if (!(distillWeight > 0 && distillWeight <= 0.5))
    fail(`--distill must be above 0 and at most 0.5, got "${values.distill}"`, EXIT.usage);
  const femaleShare = Number(values['female-share']);
  if (!(femaleShare > 0 && femaleShare < 1))
    fail(`--female-share must be between 0 and 1, got "${values['female-share']}"`, EXIT.usage);
  const groupDro = Number(values['group-dro']);
  if (!(groupDro >= 0 && groupDro <= 10))
    fail(`--group-dro must be between 0 and 10, got "${values['group-dro']}"`, EXIT.usage);
  const balance = values.balance?.trim() || undefined;
  if (groupDro > 0 && !balance)
    fail('--group-dro weighs the groups of a column: pass --balance <column> too', EXIT.usage);
  const from = fromPaths(values.from);
  const arch = oneOf<Arch>('arch', values.arch ?? archOf(from) ?? 'wide', [
    'wide',
    'wider',
    'wide8',
    'wide64',
    'deep',
    'compact',
    'seed',
  ]);
  const batch = intOption('batch', values.batch) as number;
  const recipe = oneOf<RecipeName>(
    'recipe',
    values.recipe ?? (values.from ? 'one' : 'shipped'),
    Object.keys(RECIPES) as RecipeName[],
  );
  const epochs = intOption('epochs', values.epochs);
  const mix = values.mix === undefined ? undefined : parseMix(values.mix);
  const given: Partial<Stage> = {
    ...(lr !== undefined && { lr }),
    ...(values['lr-schedule'] !== undefined && {
      lrSchedule: oneOf<LrSchedule>('lr-schedule', values['lr-schedule'], ['cosine', 'constant']),
    }),
    ...(values.augment !== undefined && {
      augment: oneOf('augment', values.augment, Object.keys(AUGMENT_PRESETS) as AugmentName[]),
    }),
    ...(mix && { mix }),
  };
  const planned = epochs === undefined ? [...RECIPES[recipe]] : scaleStages(RECIPES[recipe], epochs);
  return {
    data: values.data ?? [DEFAULT_DATA_DIR],
    mixGiven: mix !== undefined,
    stages: planned.map((stage) => ({ ...stage, ...given })),
    balance,
    groupDro,
    femaleShare,
    labelSmoothing,
    mixup,
    sam,
    aux,
    auxWeight,
    distill:
      values.teacher === undefined ? undefined : teachersOf(values.teacher, values['teacher-probs'], distillWeight),
    arch,
    epochs,
    bnMomentum,
    batch,
    microBatch: intOption('micro-batch', values['micro-batch']) ?? Math.min(batch, 32),
    microBatchGiven: values['micro-batch'] !== undefined,
    stepsPerEpoch: intOption('steps-per-epoch', values['steps-per-epoch']),
    validationSteps: intOption('validation-steps', values['validation-steps']),
    cropScale,
    workers: intOption('workers', values.workers) as number,
    seed: intOption('seed', values.seed, 0) as number,
    out: resolve(values.out),
    quantize,
    run: values.run ?? arch,
    resume: values.resume,
    from: values.from,
    ...from,
    backend: oneOf('backend', values.backend, ['wasm', 'cpu'] as const),
  };
}

/**
 * `--teacher`'s models, each checked as the app checks a model, with their versions, `--teacher-probs`'s file with
 * its folder and sha256, and the blend's weight.
 */
function teachersOf(
  dirs: string[],
  probsFile: string | undefined,
  weight: number,
): NonNullable<TrainingRecord['distill']> {
  const teachers = dirs.map((dir) => ({ dir, version: readModelDir(resolve(dir)).version }));
  if (probsFile === undefined) return { teachers, weight };
  const listed = readTeacherProbs(probsFile);
  return { teachers, probs: { file: probsFile, source: listed.source, sha256: listed.sha256 }, weight };
}

/** `--teacher-probs`'s file, or a one-line error naming it. */
export function readTeacherProbs(file: string): ListedTeacher {
  try {
    return readListedTeacher(resolve(file));
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    fail(`--teacher-probs ${file}: ${reason}`);
  }
}

/** What `--from` names: an exported model folder (one holding model.json), or else a run's checkpoint. */
function fromPaths(from: string | undefined): { fromModel: string | null; fromCheckpoint: string } {
  if (!from) return { fromModel: null, fromCheckpoint: '' };
  if (existsSync(join(resolve(from), 'model.json'))) return { fromModel: resolve(from), fromCheckpoint: '' };
  return { fromModel: null, fromCheckpoint: join(REPO_ROOT, 'training', 'runs', from, 'checkpoint') };
}

/** The arch of the model or run that `--from` names, so that it need not be repeated. */
function archOf({ fromModel, fromCheckpoint }: ReturnType<typeof fromPaths>): Arch | undefined {
  if (fromModel) return readModelDir(fromModel).arch as Arch;
  return hasCheckpoint(fromCheckpoint) ? (readState(fromCheckpoint).options.arch as Arch) : undefined;
}

/** "celeba=1,diverse=0.5" as weights by folder name. */
function parseMix(text: string): Record<string, number> {
  const mix: Record<string, number> = {};
  for (const part of text.split(',')) {
    const [name, weight] = part.split('=');
    if (!name || !(Number(weight) >= 0))
      fail(`--mix takes name=weight pairs (as celeba=1,diverse=1), got "${text}"`, EXIT.usage);
    mix[name.trim()] = Number(weight);
  }
  return mix;
}
