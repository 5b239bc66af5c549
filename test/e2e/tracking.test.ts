import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, newSession, type Session } from './harness';

const baseUrl = inject('baseUrl');
const FRAMES = 300;

describe('tracking and smoothing on a still face in front of a noisy camera (wasm)', () => {
  let browser: Browser;
  let session: Session;

  beforeAll(async () => {
    browser = await launchChromium({ video: inject('noisyFaceVideo') });
    session = await newSession(browser);
    await session.page.goto(`${baseUrl}/?backend=wasm`);
    await session.page.waitForFunction((n) => (window.__facesense?.frames ?? 0) >= n, FRAMES, {
      timeout: 170_000,
      polling: 500,
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it(`keeps one track, and its label changes at most once (from "…" while it settles) over ${FRAMES} frames`, async () => {
    const log = await session.page.evaluate(() => window.__facesense!.log);
    expect(log[0].frame).toBe(1);
    const frames = log.slice(0, FRAMES);
    const faces = frames.flatMap((f) => f.faces);
    // BlazeFace may miss the face on a noisy frame; it must find it on nearly all of them.
    expect(faces.length).toBeGreaterThanOrEqual(0.95 * FRAMES);
    expect(new Set(faces.map((f) => f.track))).toEqual(new Set([1]));
    const labels = faces.map((f) => f.label);
    const flips = labels.filter((l, i) => i > 0 && l !== labels[i - 1]).length;
    console.log(`label flips over ${FRAMES} frames: ${flips} (${labels[0]} → ${labels.at(-1)})`);
    expect(labels[0]).toBe('pending');
    expect(flips).toBeLessThanOrEqual(1);
    expect(session.errors).toEqual([]);
  });

  it('classifies a still face far less often than it detects it', async () => {
    const { detected, classified, frames, stages } = await session.page.evaluate(() => {
      const h = window.__facesense!;
      return { detected: h.detected, classified: h.classified, frames: h.frames, stages: h.stages() };
    });
    const saved = 1 - classified / detected;
    console.log(
      `classifier runs: ${classified} for ${detected} faces detected over ${frames} frames ` +
        `(${(100 * saved).toFixed(1)} % saved); median detect ${stages.detect.median.toFixed(1)} ms, ` +
        `classify ${stages.classify.median.toFixed(1)} ms`,
    );
    expect(classified).toBeGreaterThan(0);
    expect(saved).toBeGreaterThan(0.5);
  });
});
