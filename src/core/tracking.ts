import { iou, type Box } from './geometry';
import type { GenderLabel, LabelPolicy, Verdict } from './labels';
import { BoxSmoother, DEFAULT_BOX_SMOOTHING, ExponentialSmoother, stableVerdict, type BoxSmoothing } from './smoothing';

export interface TrackerOptions {
  /** Least overlap (IoU) between a track's last box and a detection for both to be the same face. */
  minIou: number;
  /**
   * How long a track outlives its face's last detection, so a face missed for a few frames keeps its label. A face
   * found again on the next frame keeps its track however long that frame took: on a device that needs more than
   * this per frame, every face would otherwise be new on every frame and never settle.
   */
  graceMs: number;
  /** Time constant of the smoothing of the probability. */
  tauMs: number;
  /** How far past a label boundary the smoothed probability must go before the label changes. */
  hysteresis: number;
  /** A face is classified again when its box overlaps the box last classified by less than this… */
  reclassifyIou: number;
  /** …or when this long has passed since. */
  reclassifyMs: number;
  /**
   * A new face has no label until it has settled: until it has been classified this many times. Meanwhile it is
   * classified on every frame, so this takes as many frames, and its score is the plain mean of those results;
   * smoothing with `tauMs` goes on from that mean. One result alone can be off (a face half in the picture,
   * motion blur), and a score that starts anywhere else (say at the threshold) would first show a label the
   * face never earned, such as "uncertain" on the way from 0.5 to 0.99.
   */
  settleClassifications: number;
  /** How the box shown for a face is smoothed over frames. */
  boxSmoothing: BoxSmoothing;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  minIou: 0.3,
  graceMs: 500,
  tauMs: 500,
  hysteresis: 0.03,
  reclassifyIou: 0.8,
  reclassifyMs: 1000,
  settleClassifications: 3,
  boxSmoothing: DEFAULT_BOX_SMOOTHING,
};

/**
 * Matches boxes of the previous frame to boxes of this one, greedily by decreasing IoU, each at most once.
 * Returns, for each current box, the index of its previous box or -1 for a new face.
 */
export function associate(previous: readonly Box[], current: readonly Box[], minIou: number): number[] {
  const pairs: [overlap: number, p: number, c: number][] = [];
  previous.forEach((a, p) =>
    current.forEach((b, c) => {
      const overlap = iou(a, b);
      if (overlap >= minIou) pairs.push([overlap, p, c]);
    }),
  );
  pairs.sort((x, y) => y[0] - x[0]);
  const match = new Array<number>(current.length).fill(-1);
  const taken = new Set<number>();
  for (const [, p, c] of pairs) {
    if (match[c] !== -1 || taken.has(p)) continue;
    match[c] = p;
    taken.add(p);
  }
  return match;
}

/** Whether a face last classified at `classifiedAt` with box `classified` must be classified again. */
export function needsClassification(
  classified: Box | undefined,
  classifiedAt: number,
  box: Box,
  now: number,
  options: Pick<TrackerOptions, 'reclassifyIou' | 'reclassifyMs'>,
): boolean {
  return (
    classified === undefined ||
    now - classifiedAt >= options.reclassifyMs ||
    iou(classified, box) < options.reclassifyIou
  );
}

/** One face of the current frame, matched to a track. */
export interface TrackedFace {
  track: number;
  /** The box found on this frame: the one the classifier crops. */
  box: Box;
  /** The box to show: `box` smoothed over the track's frames, so that it stays still while the face does. */
  shown: Box;
  /** The classifier must look at this face on this frame. */
  classify: boolean;
}

interface Track {
  id: number;
  box: Box;
  shown: BoxSmoother;
  lastSeen: number;
  classifiedBox?: Box;
  classifiedAt: number;
  /** The latest classifier output, held between classifications. */
  measured?: number;
  /** The classifier outputs of a face that has not settled yet. */
  unsettled: number[];
  /** Set once the face has settled. */
  smoothed?: ExponentialSmoother;
  label?: GenderLabel;
}

/**
 * Follows faces across frames and keeps one label per face. Each frame takes two steps: `update` with the
 * detected boxes says which faces to classify; `label` with those results returns the verdicts to show.
 */
export class FaceTracker {
  private tracks: Track[] = [];
  private nextId = 1;
  private readonly options: TrackerOptions;

  constructor(
    private readonly policy: LabelPolicy,
    options: Partial<TrackerOptions> = {},
  ) {
    this.options = { ...DEFAULT_TRACKER_OPTIONS, ...options };
  }

  /** Matches this frame's boxes (taken at `now`, ms) to tracks, starting new ones and ending expired ones. */
  update(boxes: readonly Box[], now: number): TrackedFace[] {
    const o = this.options;
    const match = associate(
      this.tracks.map((t) => t.box),
      boxes,
      o.minIou,
    );
    const faces = boxes.map((box, i) => {
      const track =
        match[i] >= 0
          ? this.tracks[match[i]]
          : this.add({
              id: this.nextId++,
              box,
              shown: new BoxSmoother(o.boxSmoothing, box, now),
              lastSeen: now,
              classifiedAt: now,
              unsettled: [],
            });
      track.box = box;
      track.lastSeen = now;
      return {
        track: track.id,
        box,
        shown: track.shown.update(box, now),
        classify: !track.smoothed || needsClassification(track.classifiedBox, track.classifiedAt, box, now, o),
      };
    });
    this.tracks = this.tracks.filter((t) => now - t.lastSeen <= o.graceMs);
    return faces;
  }

  /**
   * This frame's classifier outputs (probability of "male"; undefined for faces not classified) for the faces
   * `update` returned; gives each face's smoothed verdict, or undefined for a face that has not settled yet (see
   * `settleClassifications`): it has no label to show or announce.
   */
  label(
    faces: readonly TrackedFace[],
    probabilities: readonly (number | undefined)[],
    now: number,
  ): (Verdict | undefined)[] {
    return faces.map((face, i) => {
      const track = this.tracks.find((t) => t.id === face.track);
      if (!track) throw new Error(`no track ${face.track}`);
      const p = probabilities[i];
      if (p !== undefined) {
        track.measured = p;
        track.classifiedBox = face.box;
        track.classifiedAt = now;
        if (!track.smoothed) {
          track.unsettled.push(p);
          if (track.unsettled.length < this.options.settleClassifications) return undefined;
          const mean = track.unsettled.reduce((a, b) => a + b) / track.unsettled.length;
          track.smoothed = new ExponentialSmoother(this.options.tauMs, mean, now);
        }
      }
      if (!track.smoothed || track.measured === undefined) return undefined;
      // Advanced on every frame toward the held measurement, so the time constant holds between classifications.
      track.smoothed.update(track.measured, now);
      const v = stableVerdict(track.smoothed.value, track.label, this.policy, this.options.hysteresis);
      track.label = v.label;
      return v;
    });
  }

  clear(): void {
    this.tracks = [];
  }

  private add(track: Track): Track {
    this.tracks.push(track);
    return track;
  }
}
