import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchTensors, type SplitData } from '../../training/lib/data/splits';
import {
  cachedTeacherProbs,
  distilledTargets,
  readListedTeacher,
  teacherEnsemble,
  type ListedTeacher,
} from '../../training/lib/fit/distill';

describe('distilledTargets', () => {
  it("blends each label with the teacher's probability by the teacher's weight", () => {
    const targets = distilledTargets([1, 0, 1, 0], [0.9, 0.2, 0.1, 1], 0.5);
    [0.95, 0.1, 0.55, 0.5].forEach((want, i) => expect(targets[i]).toBeCloseTo(want, 6));
    const light = distilledTargets([1, 0], [0, 1], 0.2);
    expect(light[0]).toBeCloseTo(0.8, 6);
    expect(light[1]).toBeCloseTo(0.2, 6);
  });

  it("keeps every target on its label's side, and refuses a weight that would not", () => {
    const targets = distilledTargets([1, 0], [0, 1], 0.5);
    expect(targets[0]).toBeGreaterThanOrEqual(0.5);
    expect(targets[1]).toBeLessThanOrEqual(0.5);
    expect(() => distilledTargets([1], [0], 0.6)).toThrow(/\(0, 0\.5\], got 0\.6/);
    expect(() => distilledTargets([1], [0], 0)).toThrow(/\(0, 0\.5\]/);
    expect(() => distilledTargets([1, 0], [0], 0.5)).toThrow(/2 labels but 1 teacher probabilities/);
  });
});

describe('batchTensors', () => {
  const split = (target?: Float32Array): SplitData => ({
    x: Uint8Array.from({ length: 3 * 2 * 2 * 3 }, (_, i) => i),
    y: Uint8Array.from([1, 0, 1]),
    n: 3,
    size: 2,
    names: ['a', 'b', 'c'],
    ...(target ? { target } : {}),
  });

  it("gives the split's targets where it has them, its labels otherwise, with the same pixels", async () => {
    await tf.setBackend('cpu');
    const plain = batchTensors(split(), [2, 0]);
    const taught = batchTensors(split(Float32Array.from([0.9, 0.3, 0.6])), [2, 0]);
    expect(Array.from(plain.y.dataSync())).toEqual([1, 1]);
    expect(Array.from(taught.y.dataSync())).toEqual([Math.fround(0.6), Math.fround(0.9)]);
    expect(Array.from(taught.x.dataSync())).toEqual(Array.from(plain.x.dataSync()));
    expect(Array.from(plain.x.dataSync()).slice(0, 12)).toEqual(Array.from({ length: 12 }, (_, i) => 24 + i));
    tf.dispose([plain.x, plain.y, taught.x, taught.y]);
  });
});

describe('cachedTeacherProbs', () => {
  it("computes a teacher's probabilities once per teacher and crop list, and keeps them for a resumed run", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facesense-teacher-'));
    const file = join(dir, 'teacher-probs.json');
    let calls = 0;
    const compute = (value: number) => async () => {
      calls++;
      return Float32Array.from([value, 1 - value]);
    };
    try {
      expect(Array.from(await cachedTeacherProbs(file, 'v1', ['a', 'b'], compute(0.25)))).toEqual([0.25, 0.75]);
      expect(Array.from(await cachedTeacherProbs(file, 'v1', ['a', 'b'], compute(0.5)))).toEqual([0.25, 0.75]);
      expect(calls).toBe(1);
      expect(Array.from(await cachedTeacherProbs(file, 'v2', ['a', 'b'], compute(0.5)))).toEqual([0.5, 0.5]);
      expect(Array.from(await cachedTeacherProbs(file, 'v2', ['b', 'a'], compute(0.125)))).toEqual([0.125, 0.875]);
      expect(calls).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('teacherEnsemble', () => {
  const logit = (p: number) => Math.log(p / (1 - p));
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  const models = [Float32Array.from([0.9, 0.2, 0.6, 0.5]), Float32Array.from([0.7, 0.4, 0.5, 0.5])];
  const listed: ListedTeacher = { source: 'diverse', probs: { 'Female/a.jpg': 0.1, 'Male/b.jpg': 0.8 }, sha256: '' };

  it("takes the mean of the models' logits for every crop", () => {
    const probs = teacherEnsemble(models);
    [
      sigmoid((logit(0.9) + logit(0.7)) / 2),
      sigmoid((logit(0.2) + logit(0.4)) / 2),
      sigmoid(logit(0.6) / 2),
      0.5,
    ].forEach((want, i) => expect(probs[i]).toBeCloseTo(want, 6));
  });

  it("adds a listed teacher to the mean for its folder's crops alone, found by name", () => {
    // Crops 2 and 3 are the listed folder's, in another order than the file's.
    const probs = teacherEnsemble(models, { teacher: listed, names: ['Male/b.jpg', 'Female/a.jpg'], offset: 2 });
    expect(probs[0]).toBeCloseTo(sigmoid((logit(0.9) + logit(0.7)) / 2), 6);
    expect(probs[1]).toBeCloseTo(sigmoid((logit(0.2) + logit(0.4)) / 2), 6);
    expect(probs[2]).toBeCloseTo(sigmoid((logit(0.6) + logit(0.5) + logit(0.8)) / 3), 6);
    expect(probs[3]).toBeCloseTo(sigmoid(logit(0.1) / 3), 6);
  });

  it("refuses a file that lacks any of its folder's crops", () => {
    expect(() => teacherEnsemble(models, { teacher: listed, names: ['Male/b.jpg', 'Male/c.jpg'], offset: 2 })).toThrow(
      /lack 1 of diverse's 2 Train crops \(Male\/c\.jpg, …\)/,
    );
  });
});

describe('readListedTeacher', () => {
  it('reads a folder and its probabilities with the sha256 of the file, and refuses anything else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'facesense-listed-'));
    const file = join(dir, 'teacher.json');
    try {
      writeFileSync(file, JSON.stringify({ source: 'diverse', probs: { 'Female/a.jpg': 0.25 }, net: 'faceres-deep' }));
      const read = readListedTeacher(file);
      expect(read.source).toBe('diverse');
      expect(read.probs).toEqual({ 'Female/a.jpg': 0.25 });
      expect(read.sha256).toMatch(/^[0-9a-f]{64}$/);
      for (const bad of [{ probs: { a: 0.5 } }, { source: 'diverse' }, { source: 'diverse', probs: { a: 1 } }]) {
        writeFileSync(file, JSON.stringify(bad));
        expect(() => readListedTeacher(file)).toThrow(/not a teacher's probabilities/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
