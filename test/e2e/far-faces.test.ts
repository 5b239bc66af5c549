import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { farPair } from './far-pair';
import { foreignRequests, LABEL, launchChromium, newSession, screenshotPath, waitForFaces } from './harness';
import { writeY4m } from './y4m';

const baseUrl = inject('baseUrl');

describe('people far from the camera', () => {
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'facesense-far-'));
    const video = join(dir, 'far-pair.y4m');
    // Sensor noise, so that each frame differs as a real camera's do; the camera stays still, so that on a slow
    // machine (a frame or two a second) the faces do not jump from one analysed frame to the next.
    await writeY4m(await farPair(), video, { frames: 30, noise: 4 });
    browser = await launchChromium({ video });
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives two people about 2.5 m away (faces about 50 px in 640×480) two labelled boxes (wasm)', async () => {
    const session = await newSession(browser);
    await session.page.goto(`${baseUrl}/?backend=wasm`);
    const labels = await waitForFaces(session.page, 2, 150_000);
    await session.page.screenshot({ path: screenshotPath('far-faces-wasm') });
    expect(labels).toHaveLength(2);
    for (const label of labels) expect(label).toMatch(LABEL);
    // Two tracks, each labelled, on the latest frame: the boxes stay with their faces rather than blinking.
    const latest = await session.page.evaluate(() => window.__facesense!.log.at(-1)!.faces);
    expect(latest).toHaveLength(2);
    expect(new Set(latest.map((f) => f.track)).size).toBe(2);
    expect(latest.every((f) => f.label !== 'pending')).toBe(true);
    expect(foreignRequests(session.requests, baseUrl)).toEqual([]);
    expect(session.errors).toEqual([]);
    await session.context.close();
  });
});
