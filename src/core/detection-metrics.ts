/**
 * Face detection scored against hand-checked boxes: greedy matching at an IoU threshold, with "ignore" faces (too
 * small, mostly hidden, seen from behind) that a detector may find or miss without it counting either way. Pure
 * functions shared by the evaluate-detector command and the tests.
 */
import { iou, type Box } from './geometry';

/** A face in the ground truth, in pixels of the photo. */
export interface TruthFace extends Box {
  /** Neither a miss when not found nor a true positive when found. */
  ignore?: boolean;
}

export interface ScoredBox {
  box: Box;
  score: number;
}

export interface DetectionTally {
  truePositives: number;
  falsePositives: number;
  /** Faces not ignored that no detection matched. */
  misses: number;
  /** Detections on ignored faces, counted neither as true nor as false positives. */
  ignored: number;
  /** truePositives / (truePositives + misses); null when there is no face to find. */
  recall: number | null;
  /** truePositives / (truePositives + falsePositives); null when nothing counted was detected. */
  precision: number | null;
}

/** The IoU at which a detection counts as finding a face (PASCAL VOC's, and WIDER FACE's). */
export const MATCH_IOU = 0.5;

/**
 * Matches detections to faces, highest score first: each takes the unmatched face (not ignored) it overlaps most,
 * at least `minIou`. A detection left over is a false positive unless it overlaps an ignored face that well: a
 * second box on one face counts against the detector, a box on an ignored face never does.
 */
export function tallyDetections(
  detections: readonly ScoredBox[],
  truths: readonly TruthFace[],
  minIou = MATCH_IOU,
): DetectionTally {
  const matched = new Set<number>();
  let truePositives = 0;
  let falsePositives = 0;
  let ignored = 0;
  for (const { box } of [...detections].sort((a, b) => b.score - a.score)) {
    let face = -1;
    let faceIou = minIou;
    truths.forEach((t, i) => {
      const overlap = t.ignore || matched.has(i) ? -1 : iou(box, t);
      if (overlap >= faceIou) [face, faceIou] = [i, overlap];
    });
    if (face >= 0) {
      matched.add(face);
      truePositives++;
    } else if (truths.some((t) => t.ignore && iou(box, t) >= minIou)) ignored++;
    else falsePositives++;
  }
  const faces = truths.filter((t) => !t.ignore).length;
  return withRates({ truePositives, falsePositives, misses: faces - truePositives, ignored });
}

/** The tallies of several images added up, recall and precision over all of them. */
export function sumTallies(tallies: readonly DetectionTally[]): DetectionTally {
  const sum = (key: 'truePositives' | 'falsePositives' | 'misses' | 'ignored') =>
    tallies.reduce((n, t) => n + t[key], 0);
  return withRates({
    truePositives: sum('truePositives'),
    falsePositives: sum('falsePositives'),
    misses: sum('misses'),
    ignored: sum('ignored'),
  });
}

function withRates(counts: Omit<DetectionTally, 'recall' | 'precision'>): DetectionTally {
  const { truePositives: tp, falsePositives: fp, misses } = counts;
  return {
    ...counts,
    recall: tp + misses > 0 ? tp / (tp + misses) : null,
    precision: tp + fp > 0 ? tp / (tp + fp) : null,
  };
}

/** One photo of the ground truth file. */
export interface SceneFaces {
  file: string;
  width: number;
  height: number;
  faces: TruthFace[];
}

/** Reads test/fixtures/scene-faces.json ({"about", "images": [SceneFaces]}), saying what is wrong if malformed. */
export function parseSceneFaces(json: unknown): SceneFaces[] {
  const images = (json as { images?: unknown } | null)?.images;
  if (!Array.isArray(images)) throw new Error('expected {"images": [...]}');
  const isSize = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  return images.map((image: Partial<SceneFaces>, i) => {
    const where = `images[${i}]${typeof image?.file === 'string' ? ` (${image.file})` : ''}`;
    if (typeof image?.file !== 'string' || !isSize(image.width) || !isSize(image.height)) {
      throw new Error(`${where}: expected "file", "width" and "height"`);
    }
    if (!Array.isArray(image.faces)) throw new Error(`${where}: expected a "faces" list`);
    image.faces.forEach((f: Partial<TruthFace>, j) => {
      const inside =
        isSize(f?.x) &&
        isSize(f?.y) &&
        isSize(f?.width) &&
        isSize(f?.height) &&
        f.x! + f.width! <= image.width! &&
        f.y! + f.height! <= image.height!;
      if (!inside) throw new Error(`${where}: faces[${j}] is not a box {x, y, width, height} inside the photo`);
      if (f.ignore !== undefined && typeof f.ignore !== 'boolean') {
        throw new Error(`${where}: faces[${j}].ignore must be true or false`);
      }
    });
    return image as SceneFaces;
  });
}
