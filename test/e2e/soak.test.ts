import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ARTIFACTS, launchChromium, newSession, waitForFaces, type Session } from './harness';

const baseUrl = inject('baseUrl');
/** Three times the warm-up: growth over 2,000 frames after every buffer is full is a leak, and CI keeps its 30 minutes. */
const FRAMES = 3_000;
/** By then every bounded buffer (the hook's 1000-frame log, the 300-frame stats rings) is full: growth after is a leak. */
const WARM_UP = 1_000;
/** CI machines analyse 11 to 30 frames a second here, so 3,000 frames take 2 to 5 minutes; this leaves room. */
const DEADLINE_MS = 9 * 60_000;
/**
 * The fake camera runs at the frame rate in the y4m header. The shared one-face video says 30 fps, which would cap the
 * soak at 30 analysed frames a second; the same frame announced at 60 fps lets the pipeline, not the camera, set the pace.
 */
const CAMERA_FPS = 60;
/** The heap is measured at the warm-up and every this many frames after it. */
const HEAP_EVERY = 500;

interface Sample {
  frame: number;
  tensors: number;
  seconds: number;
}

/**
 * The JS heap the page keeps, in bytes. The pipeline runs on while it is measured, and a frame in flight can hold a
 * megabyte more for a moment, so this is the least of several measurements, each right after a full collection.
 */
async function retainedHeap(cdp: CDPSession, page: Page): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    await cdp.send('HeapProfiler.collectGarbage');
    least = Math.min(least, (await cdp.send('Runtime.getHeapUsage')).usedSize);
    await page.waitForTimeout(150);
  }
  return least;
}

const read = (page: Page) =>
  page.evaluate(() => {
    const h = window.__facesense!;
    return {
      frames: h.frames,
      tensors: h.tensors,
      first: h.tensorsAfterFirstFrame,
      skipped: h.skipped,
      errors: h.errors,
    };
  });

describe(`soak: ${FRAMES} live frames (wasm, one face)`, () => {
  let videos: string;
  let browser: Browser;
  let session: Session;

  beforeAll(async () => {
    videos = mkdtempSync(join(tmpdir(), 'facesense-soak-'));
    const video = join(videos, `one-face-${CAMERA_FPS}fps.y4m`);
    const y4m = readFileSync(inject('oneFaceVideo'));
    const header = y4m.subarray(0, y4m.indexOf(0x0a)).toString('latin1');
    expect(header).toMatch(/ F30:1 /);
    writeFileSync(
      video,
      Buffer.concat([
        Buffer.from(header.replace(/ F30:1 /, ` F${CAMERA_FPS}:1 `), 'latin1'),
        y4m.subarray(header.length),
      ]),
    );
    browser = await launchChromium({ video });
    session = await newSession(browser);
    await session.page.goto(`${baseUrl}/?backend=wasm`);
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(videos, { recursive: true, force: true });
  });

  it(
    'keeps the tensor count flat and the JS heap within 10 %',
    async () => {
      const { page } = session;
      const cdp = await session.context.newCDPSession(page);
      await waitForFaces(page, 1);
      const started = performance.now();
      const samples: Sample[] = [];
      const heap: { frame: number; bytes: number }[] = [];
      let state = await read(page);
      const firstFrame = state.frames;
      while (state.frames < FRAMES && performance.now() - started < DEADLINE_MS) {
        await page.waitForTimeout(5_000);
        state = await read(page);
        samples.push({ frame: state.frames, tensors: state.tensors, seconds: (performance.now() - started) / 1000 });
        if (state.frames >= WARM_UP + HEAP_EVERY * heap.length) {
          heap.push({ frame: state.frames, bytes: await retainedHeap(cdp, page) });
        }
      }
      const seconds = (performance.now() - started) / 1000;
      heap.push({ frame: state.frames, bytes: await retainedHeap(cdp, page) });
      const [heapStart, heapEnd] = [heap[0], heap[heap.length - 1]];
      const tensorsAtWarmUp = samples.find((s) => s.frame >= WARM_UP)?.tensors ?? -1;
      const stages = await page.evaluate(() => window.__facesense!.stages());
      const figures = {
        frames: state.frames,
        // From the first face shown.
        seconds: Math.round(seconds),
        framesPerSecond: Number(((state.frames - firstFrame) / seconds).toFixed(1)),
        cameraFps: CAMERA_FPS,
        skipped: state.skipped,
        errors: state.errors,
        tensors: { afterFirstFrame: state.first, atWarmUp: tensorsAtWarmUp, end: state.tensors },
        heap: {
          startFrame: heapStart.frame,
          startBytes: heapStart.bytes,
          endBytes: heapEnd.bytes,
          growthPercent: Number(((100 * (heapEnd.bytes - heapStart.bytes)) / heapStart.bytes).toFixed(2)),
        },
      };
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(
        join(ARTIFACTS, 'soak.json'),
        `${JSON.stringify({ ...figures, stages, heapSamples: heap, samples }, null, 2)}\n`,
      );
      console.log('soak:', JSON.stringify(figures));

      expect(state.frames, `only ${state.frames} frames in ${Math.round(seconds)} s`).toBeGreaterThanOrEqual(FRAMES);
      expect(state.errors).toBe(0);
      expect(heapStart.frame).toBeGreaterThanOrEqual(WARM_UP);
      // Every frame releases its tensors: the count never moves from the first frame's.
      expect(new Set(samples.map((s) => s.tensors))).toEqual(new Set([state.first]));
      expect(figures.heap.growthPercent).toBeLessThan(10);
      expect(session.errors).toEqual([]);
    },
    DEADLINE_MS + 120_000,
  );
});
