import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/core/geometry';
import { DEFAULT_POLICY } from '../../src/core/labels';
import { smoothingAlpha } from '../../src/core/smoothing';
import { associate, FaceTracker, needsClassification } from '../../src/core/tracking';

const box = (x: number, y = 0, side = 100): Box => ({ x, y, width: side, height: side });
const schedule = { reclassifyIou: 0.8, reclassifyMs: 1000 };

describe('associate', () => {
  it('matches each face to the previous box it overlaps most, whatever the order', () => {
    expect(associate([box(0), box(300)], [box(310), box(5)], 0.3)).toEqual([1, 0]);
  });

  it('starts new faces for boxes that overlap nothing enough', () => {
    expect(associate([box(0)], [box(80), box(500)], 0.3)).toEqual([-1, -1]);
    expect(associate([], [box(0)], 0.3)).toEqual([-1]);
  });

  it('gives each previous box to one face only, the best overlapping', () => {
    expect(associate([box(0)], [box(40), box(10)], 0.3)).toEqual([-1, 0]);
  });
});

describe('needsClassification', () => {
  it('classifies a face never classified, a face whose box moved, and a face whose result is too old', () => {
    expect(needsClassification(undefined, 0, box(0), 0, schedule)).toBe(true);
    expect(needsClassification(box(0), 0, box(2), 500, schedule)).toBe(false);
    expect(needsClassification(box(0), 0, box(20), 500, schedule)).toBe(true);
    expect(needsClassification(box(0), 0, box(0, 0, 130), 500, schedule)).toBe(true);
    expect(needsClassification(box(0), 0, box(0), 1000, schedule)).toBe(true);
  });
});

describe('FaceTracker', () => {
  /** Runs frames every `dt` ms of `boxes`, with classifier output `p` for the faces asked for; returns the labels. */
  function run(
    tracker: FaceTracker,
    frames: number,
    dt: number,
    boxes: (t: number) => Box[],
    p: (t: number) => number,
  ) {
    const out: { t: number; tracks: number[]; labels: string[]; classified: number }[] = [];
    for (let i = 0; i < frames; i++) {
      const t = i * dt;
      const faces = tracker.update(boxes(t), t);
      const verdicts = tracker.label(
        faces,
        faces.map((f) => (f.classify ? p(t) : undefined)),
        t,
      );
      out.push({
        t,
        tracks: faces.map((f) => f.track),
        labels: verdicts.map((v) => v?.label ?? 'pending'),
        classified: faces.filter((f) => f.classify).length,
      });
    }
    return out;
  }

  const flips = (labels: string[]) => labels.filter((l, i) => i > 0 && l !== labels[i - 1]).length;

  it('keeps one track per face as it moves, without a label until it has settled', () => {
    const tracker = new FaceTracker(DEFAULT_POLICY);
    const out = run(
      tracker,
      60,
      33,
      (t) => [box(t / 10), box(400 - t / 10, 200)],
      () => 0.95,
    );
    expect(out.every((f) => f.tracks.join() === '1,2')).toBe(true);
    expect(out.slice(0, 2).map((f) => f.labels)).toEqual([
      ['pending', 'pending'],
      ['pending', 'pending'],
    ]);
    // Labelled at the third classification, on the third frame: from the mean of its results, not from 0.5.
    expect(out.slice(2).every((f) => f.labels.join() === 'male,male')).toBe(true);
  });

  it('settles after three classifications, on consecutive frames, at the mean of their results', () => {
    const tracker = new FaceTracker(DEFAULT_POLICY);
    const results = [0.9, 0.2, 0.8];
    const verdicts = [0, 33, 66, 99].map((t, i) => {
      const faces = tracker.update([box(100)], t);
      expect(faces[0].classify, `frame ${i}`).toBe(i < 3);
      return tracker.label(faces, [faces[0].classify ? results[i] : undefined], t)[0];
    });
    expect(verdicts.slice(0, 2)).toEqual([undefined, undefined]);
    // One odd result weighs a third: the mean, 0.63, is "uncertain", though two of the three say "male".
    const mean = 1.9 / 3;
    expect(verdicts[2]?.label).toBe('uncertain');
    expect(verdicts[2]?.probabilityMale).toBeCloseTo(mean, 10);
    // Then smoothed toward the latest result as usual.
    expect(verdicts[3]?.probabilityMale).toBeCloseTo(mean + (0.8 - mean) * smoothingAlpha(33, 500), 10);
  });

  it('shows "uncertain" for a face whose settled score lies in the band, and never before it settles', () => {
    const out = run(
      new FaceTracker(DEFAULT_POLICY, { settleClassifications: 5 }),
      30,
      33,
      () => [box(100)],
      () => 0.55,
    );
    const labels = out.map((f) => f.labels[0]);
    expect(labels.slice(0, 4)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(new Set(labels.slice(4))).toEqual(new Set(['uncertain']));
  });

  it('changes the label at most once on a static face with a noisy classifier', () => {
    const tracker = new FaceTracker(DEFAULT_POLICY, { reclassifyMs: 0 });
    // Mean 0.8, noise ±0.2 that often crosses the "uncertain" band of 0.35–0.65.
    let seed = 1;
    const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.4;
    const out = run(
      tracker,
      300,
      33,
      () => [box(100)],
      () => 0.8 + noise(),
    );
    const labels = out.map((f) => f.labels[0]);
    expect(labels[0]).toBe('pending');
    expect(labels.at(-1)).toBe('male');
    // The one change is from no label to "male".
    expect(flips(labels)).toBe(1);
  });

  it('keeps the label of a face missed for less than the grace period, and forgets it after', () => {
    const tracker = new FaceTracker(DEFAULT_POLICY, { graceMs: 500 });
    const seen = (from: number, to: number) => (t: number) => (t < from || t >= to ? [box(100)] : []);
    const brief = run(tracker, 90, 33, seen(1000, 1300), () => 0.1);
    expect(new Set(brief.flatMap((f) => f.tracks))).toEqual(new Set([1]));
    expect(brief.at(-1)!.labels).toEqual(['female']);
    const long = run(new FaceTracker(DEFAULT_POLICY, { graceMs: 500 }), 90, 33, seen(1000, 1600), () => 0.1);
    expect(new Set(long.flatMap((f) => f.tracks))).toEqual(new Set([1, 2]));
  });

  it('keeps the track of a face found on every frame however slow the frames, so it settles', () => {
    const out = run(
      new FaceTracker(DEFAULT_POLICY, { graceMs: 500 }),
      5,
      800,
      () => [box(100)],
      () => 0.1,
    );
    expect(out.map((f) => f.tracks[0])).toEqual([1, 1, 1, 1, 1]);
    expect(out.map((f) => f.labels[0])).toEqual(['pending', 'pending', 'female', 'female', 'female']);
  });

  it('classifies a still face once per time budget and a moving face when its box changes', () => {
    const still = run(
      new FaceTracker(DEFAULT_POLICY),
      91,
      33,
      () => [box(100)],
      () => 0.9,
    );
    // 0–2.97 s at 30 fps: on each of the first three frames, to settle, then 1 and 2 s after the third.
    expect(still.reduce((n, f) => n + f.classified, 0)).toBe(5);
    const moving = run(
      new FaceTracker(DEFAULT_POLICY),
      91,
      33,
      (t) => [box(t / 5)],
      () => 0.9,
    );
    const classified = moving.reduce((n, f) => n + f.classified, 0);
    expect(classified).toBeGreaterThan(10);
    expect(classified).toBeLessThan(91);
  });

  it('shows a face at rest in one place while views place its box apart, and crops the box found', () => {
    const tracker = new FaceTracker(DEFAULT_POLICY);
    const frames = Array.from({ length: 40 }, (_, k) => tracker.update([box(k % 2 ? 108 : 100)], k * 33)[0]);
    expect(frames.map((f) => f.box.x)).toEqual(frames.map((_, k) => (k % 2 ? 108 : 100)));
    const shown = frames.slice(20).map((f) => f.shown.x);
    expect(Math.max(...shown) - Math.min(...shown)).toBeLessThan(2);
    expect(frames[0].shown).toEqual(box(100));
  });

  it('forgets every track on clear', () => {
    const tracker = new FaceTracker(DEFAULT_POLICY);
    run(
      tracker,
      2,
      33,
      () => [box(0)],
      () => 0.9,
    );
    tracker.clear();
    expect(tracker.update([box(0)], 100)).toEqual([{ track: 2, box: box(0), shown: box(0), classify: true }]);
  });
});
