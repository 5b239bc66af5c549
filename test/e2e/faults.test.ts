import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  LABEL,
  launchChromium,
  launchHideable,
  newSession,
  waitForFaces,
  type HideableSession,
  type Session,
} from './harness';

const baseUrl = inject('baseUrl');

const frames = (page: Page) => page.evaluate(() => window.__facesense?.frames ?? 0);

describe('WebGL context lost (SwiftShader WebGL)', () => {
  let browser: Browser;
  let session: Session;

  beforeAll(async () => {
    browser = await launchChromium({ video: inject('oneFaceVideo'), webgl: true });
    session = await newSession(browser);
    await session.page.goto(`${baseUrl}/?backend=webgl`);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('loads the models again on a new context, and on wasm once WebGL is lost again, without a page reload', async () => {
    const { page } = session;
    const notice = page.locator('facesense-app .notice[role=status]');
    const stats = page.locator('facesense-app .stats');
    await waitForFaces(page, 1);
    expect(await page.evaluate(() => window.__facesense!.backend)).toBe('webgl');
    // A reload would start a new window object without it.
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    for (const backend of ['webgl', 'wasm']) {
      const before = await frames(page);
      // In the middle of a frame: at SwiftShader's half a second per frame one is nearly always in flight.
      expect(await page.evaluate(() => window.__facesense!.loseContext())).toBe(true);
      await notice.filter({ hasText: `The graphics context was lost; now running on ${backend}` }).waitFor({
        timeout: 60_000,
      });
      // The live region was emptied when the old models went: this waits for faces found by the new ones.
      const labels = await waitForFaces(page, 1, 60_000);
      expect(labels[0]).toMatch(LABEL);
      expect(await stats.textContent()).toContain(` · ${backend} · 1 face`);
      expect(await page.evaluate(() => window.__facesense!.backend)).toBe(backend);
      expect(await frames(page)).toBeGreaterThan(before);
      expect(await page.evaluate(() => 'notReloaded' in window)).toBe(true);
    }
    // The released tensors of the lost backend are not counted against the new one.
    const { first, last } = await page.evaluate(() => ({
      first: window.__facesense!.tensorsAfterFirstFrame,
      last: window.__facesense!.tensors,
    }));
    expect(last).toBe(first);
    expect(session.errors).toEqual([]);
  }, 150_000);
});

describe('hidden tab (wasm)', () => {
  let session: HideableSession;

  beforeAll(async () => {
    session = await launchHideable({ video: inject('oneFaceVideo') });
    await session.page.goto(`${baseUrl}/?backend=wasm`);
  });

  afterAll(async () => {
    await session?.close();
  });

  it('runs no inference while the tab is hidden, and labels faces again once it is shown', async () => {
    const { page } = session;
    await waitForFaces(page, 1);
    // While visible, a second brings several frames, so a hidden stretch without any is not a slow machine.
    const visible = await frames(page);
    await page.waitForTimeout(1000);
    expect((await frames(page)) - visible).toBeGreaterThanOrEqual(5);

    await session.setHidden(true);
    const hidden = await frames(page);
    await page.waitForTimeout(3000);
    const afterHidden = await frames(page);
    console.log(`frames while hidden for 3 s: ${afterHidden - hidden}`);
    // The frame in flight when the tab was hidden may still finish.
    expect(afterHidden - hidden).toBeLessThanOrEqual(1);

    await session.setHidden(false);
    await page.waitForFunction((n) => (window.__facesense?.frames ?? 0) >= n, afterHidden + 20, {
      timeout: 30_000,
      polling: 200,
    });
    const resumed = await page.evaluate((n) => window.__facesense!.log.filter((f) => f.frame > n), afterHidden);
    expect(resumed.length).toBeGreaterThanOrEqual(20);
    expect(resumed.at(-1)!.faces).toHaveLength(1);
    expect((await waitForFaces(page, 1))[0]).toMatch(LABEL);
    expect(session.errors).toEqual([]);
  });
});
