import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/core/geometry';
import { parseSceneFaces, sumTallies, tallyDetections, type TruthFace } from '../../src/core/detection-metrics';

const box = (x: number, y: number, width = 10, height = 10): Box => ({ x, y, width, height });
const det = (b: Box, score = 0.9) => ({ box: b, score });

describe('tallyDetections', () => {
  it('counts a detection overlapping a face at IoU 0.5 or more as found, less as a miss and a false positive', () => {
    const face = [box(0, 0)];
    // Shifted by 2: 80 px in common, 120 in the union, IoU 2/3.
    expect(tallyDetections([det(box(2, 0))], face)).toEqual({
      truePositives: 1,
      falsePositives: 0,
      misses: 0,
      ignored: 0,
      recall: 1,
      precision: 1,
    });
    // Twice as tall: 100 / 200, exactly 0.5.
    expect(tallyDetections([det(box(0, 0, 10, 20))], face).truePositives).toBe(1);
    // Shifted by 5: 50 / 150, IoU 1/3.
    expect(tallyDetections([det(box(5, 0))], face)).toEqual({
      truePositives: 0,
      falsePositives: 1,
      misses: 1,
      ignored: 0,
      recall: 0,
      precision: 0,
    });
  });

  it('matches each face once: a second box on the same face is a false positive, the best scored wins', () => {
    // The better-placed box scores lower, so the first takes the face and the second is left over.
    const tally = tallyDetections([det(box(0, 0), 0.8), det(box(2, 0), 0.9)], [box(0, 0)]);
    expect(tally).toMatchObject({ truePositives: 1, falsePositives: 1, misses: 0, recall: 1, precision: 0.5 });
  });

  it('gives each detection the unmatched face it overlaps most', () => {
    // Two faces 3 px apart. The first detection overlaps both, the right one most (IoU 90/110 against 80/120);
    // the second overlaps only the left one (70/130), which is therefore still free for it.
    const faces = [box(0, 0), box(3, 0)];
    expect(tallyDetections([det(box(2, 0), 0.9), det(box(-3, 0), 0.8)], faces)).toMatchObject({
      truePositives: 2,
      falsePositives: 0,
      misses: 0,
    });
  });

  it('counts a face no detection found as a miss', () => {
    const faces = [box(0, 0), box(20, 0), box(40, 0)];
    const tally = tallyDetections([det(box(20, 0))], faces);
    expect(tally).toMatchObject({ truePositives: 1, falsePositives: 0, misses: 2, precision: 1 });
    expect(tally.recall).toBeCloseTo(1 / 3);
  });

  it('neither rewards nor penalises boxes on ignored faces, nor misses them', () => {
    const faces: TruthFace[] = [box(0, 0), { ...box(20, 0), ignore: true }];
    // One box on the face, two on the ignored one (both overlap it), one on nothing.
    const tally = tallyDetections([det(box(0, 0)), det(box(20, 0)), det(box(21, 0)), det(box(60, 0))], faces);
    expect(tally).toEqual({ truePositives: 1, falsePositives: 1, misses: 0, ignored: 2, recall: 1, precision: 0.5 });
    // Nothing found: the ignored face is no miss.
    expect(tallyDetections([], faces)).toMatchObject({ misses: 1, recall: 0, precision: null });
    // A box off the ignored face by more than the threshold allows is a false positive like any other.
    expect(tallyDetections([det(box(25, 0))], faces)).toMatchObject({ falsePositives: 1, ignored: 0 });
  });

  it('prefers a face that counts to an ignored one the box overlaps even more', () => {
    // IoU 1 with the ignored face, 90/110 with the counted one.
    const faces: TruthFace[] = [box(0, 0), { ...box(1, 0), ignore: true }];
    expect(tallyDetections([det(box(1, 0))], faces)).toMatchObject({ truePositives: 1, ignored: 0 });
  });

  it('has nothing to measure on an empty image, and only false positives on one without faces (the dogs)', () => {
    expect(tallyDetections([], [])).toEqual({
      truePositives: 0,
      falsePositives: 0,
      misses: 0,
      ignored: 0,
      recall: null,
      precision: null,
    });
    expect(tallyDetections([det(box(0, 0)), det(box(50, 50))], [])).toEqual({
      truePositives: 0,
      falsePositives: 2,
      misses: 0,
      ignored: 0,
      recall: null,
      precision: 0,
    });
  });

  it('adds tallies up before dividing', () => {
    const a = tallyDetections([det(box(0, 0))], [box(0, 0), box(20, 0)]); // 1 found, 1 missed
    const dogs = tallyDetections([det(box(0, 0))], []); // 1 false positive
    const empty = tallyDetections([], []);
    expect(sumTallies([a, dogs, empty])).toEqual({
      truePositives: 1,
      falsePositives: 1,
      misses: 1,
      ignored: 0,
      recall: 0.5,
      precision: 0.5,
    });
    expect(sumTallies([])).toMatchObject({ recall: null, precision: null });
  });
});

describe('parseSceneFaces', () => {
  it('reads the scene fixture: every box inside its photo, faces to find in all but the dogs photo', () => {
    const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'scene-faces.json'), 'utf8'));
    expect(typeof fixture.about).toBe('string');
    const images = parseSceneFaces(fixture);
    expect(images.length).toBe(38);
    expect(new Set(images.map((i) => i.file)).size).toBe(images.length);
    expect(images.find((i) => i.file === 'negative_dlib_dogs.jpg')?.faces.every((f) => f.ignore)).toBe(true);
    for (const image of images.filter((i) => !i.file.startsWith('negative_'))) {
      expect(
        image.faces.some((f) => !f.ignore),
        image.file,
      ).toBe(true);
    }
  });

  it('says what is wrong with a malformed file', () => {
    const image = { file: 'a.jpg', width: 100, height: 50, faces: [box(0, 0)] };
    expect(parseSceneFaces({ images: [image] })).toEqual([image]);
    expect(() => parseSceneFaces([])).toThrow('expected {"images": [...]}');
    expect(() => parseSceneFaces({ images: [{ ...image, width: '100' }] })).toThrow(
      'images[0] (a.jpg): expected "file", "width" and "height"',
    );
    expect(() => parseSceneFaces({ images: [{ ...image, faces: [box(95, 0)] }] })).toThrow(
      'images[0] (a.jpg): faces[0] is not a box {x, y, width, height} inside the photo',
    );
    expect(() => parseSceneFaces({ images: [{ ...image, faces: [{ ...box(0, 0), ignore: 'yes' }] }] })).toThrow(
      'faces[0].ignore must be true or false',
    );
  });
});
