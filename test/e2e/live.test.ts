import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  dropPhoto,
  ARTIFACTS,
  foreignRequests,
  LABEL,
  launchChromium,
  newSession,
  SCENES,
  screenshotPath,
  TWO_FACES,
  waitForFaces,
  type Session,
} from './harness';

const baseUrl = inject('baseUrl');

describe('live camera with one face (wasm)', () => {
  let browser: Browser;
  let session: Session;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium({ video: inject('oneFaceVideo') });
    session = await newSession(browser);
    page = session.page;
    await page.goto(`${baseUrl}/?backend=wasm`);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('labels the face and shows frame rate, stage times, backend and face count', async () => {
    const labels = await waitForFaces(page, 1);
    expect(labels).toHaveLength(1);
    expect(labels[0]).toMatch(LABEL);
    const stats = await page.locator('facesense-app .stats').textContent();
    expect(stats).toMatch(/^\d+\.\d fps · detect \d+ ms · classify \d+ ms · wasm · 1 face$/);
    // Inside a landmark, as axe's "region" rule asks of all content: the bar is a named region.
    await expect(page.getByRole('region', { name: 'Controls and status' }).locator('.stats').count()).resolves.toBe(1);
    await page.screenshot({ path: screenshotPath('one-face') });
  });

  it("labels the shipped model's verdict for this face: male, once the smoothed score has settled", async () => {
    await page.waitForFunction(
      () =>
        /^1 face: male \d+%$/.test(
          document.querySelector('facesense-app')?.shadowRoot?.querySelector('p[role=status]')?.textContent ?? '',
        ),
      undefined,
      { timeout: 30_000, polling: 200 },
    );
    // Before it settles the face has no label ("…", not announced), and then its own: never "uncertain" on the way.
    const log = await page.evaluate(() => window.__facesense!.log);
    expect(log[0].frame).toBe(1);
    const labels = log.flatMap((f) => f.faces.map((face) => face.label));
    expect(labels[0]).toBe('pending');
    expect(labels).not.toContain('uncertain');
    await page.screenshot({ path: screenshotPath('one-face-labelled') });
  });

  it('releases every tensor: the count after 300 frames equals the count after the first', async () => {
    await page.waitForFunction(() => (window.__facesense?.frames ?? 0) >= 301, undefined, {
      timeout: 150_000,
      polling: 500,
    });
    const hook = await page.evaluate(() => {
      const h = window.__facesense!;
      return {
        frames: h.frames,
        skipped: h.skipped,
        first: h.tensorsAfterFirstFrame,
        last: h.tensors,
        stages: h.stages(),
      };
    });
    expect(hook.first).toBeGreaterThan(0);
    expect(hook.last).toBe(hook.first);
    // Frame times for the README: the last 300 frames, wasm, one face, 640×480.
    writeFileSync(join(ARTIFACTS, 'frame-times.json'), `${JSON.stringify(hook, null, 2)}\n`);
    console.log('frame times (ms):', JSON.stringify(hook.stages));
  });

  it('sends no request to any other origin and breaks no content security rule', async () => {
    expect(session.requests.length).toBeGreaterThan(0);
    expect(foreignRequests(session.requests, baseUrl)).toEqual([]);
    expect(session.errors).toEqual([]);
  });

  it('reaches every control from the keyboard', async () => {
    const focused: string[] = [];
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab');
      focused.push(
        await page.evaluate(
          () => document.querySelector('facesense-app')?.shadowRoot?.activeElement?.textContent?.trim() ?? '',
        ),
      );
    }
    expect(focused).toContain('Open photo');
  });

  it('photo mode labels a dropped photo', async () => {
    await dropPhoto(page, join(SCENES, TWO_FACES));
    const labels = await waitForFaces(page, 2);
    expect(labels.every((l) => LABEL.test(l))).toBe(true);
    await expect(page.locator('facesense-app canvas.photo').count()).resolves.toBe(1);
    await page.screenshot({ path: screenshotPath('photo-mode') });
    expect(foreignRequests(session.requests, baseUrl)).toEqual([]);
  });

  describe('camera errors each have their own state with a retry', () => {
    const problem = (s: Session) => s.page.locator('facesense-app section[role=alert]');

    it('permission denied says how to allow the camera', async () => {
      const denied = await newSession(browser, { camera: false });
      await denied.page.goto(`${baseUrl}/?backend=wasm`);
      await expect(problem(denied).getAttribute('data-problem')).resolves.toBe('denied');
      await expect(problem(denied).textContent()).resolves.toMatch(/denied[\s\S]*Allow/);
      await expect(problem(denied).getByRole('button', { name: 'Try again' }).count()).resolves.toBe(1);
      await denied.page.screenshot({ path: screenshotPath('camera-denied') });
      await denied.context.close();
    });

    it('a camera that ends mid-stream shows its state, and "Try again" brings the faces back', async () => {
      // Keeps the stream where the test can end it; a real unplug fires `ended` on the track the same way.
      const initScript = `{
        const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = async (c) => (window.__stream = await open(c));
      }`;
      const s = await newSession(browser, { initScript });
      await s.page.goto(`${baseUrl}/?backend=wasm`);
      await waitForFaces(s.page, 1);
      await s.page.evaluate(() => {
        const track = (window as unknown as { __stream: MediaStream }).__stream.getVideoTracks()[0];
        track.stop();
        track.dispatchEvent(new Event('ended'));
      });
      await expect(problem(s).getAttribute('data-problem')).resolves.toBe('ended');
      await problem(s).getByRole('button', { name: 'Try again' }).click();
      await waitForFaces(s.page, 1);
      await s.context.close();
    });

    it('impossible constraints are relaxed and the camera starts anyway', async () => {
      const initScript = `{
        const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = (c) =>
          c.video === true ? open(c) : Promise.reject(new DOMException('fake', 'OverconstrainedError'));
      }`;
      const s = await newSession(browser, { initScript });
      await s.page.goto(`${baseUrl}/?backend=wasm`);
      await waitForFaces(s.page, 1);
      await s.context.close();
    });

    it.each([
      ['NotFoundError', 'no-camera', /No camera found/],
      ['NotReadableError', 'busy', /busy/],
    ])('%s shows the %s state', async (name, kind, text) => {
      const initScript = `navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('fake', '${name}'));`;
      const s = await newSession(browser, { initScript });
      await s.page.goto(`${baseUrl}/?backend=wasm`);
      await expect(problem(s).getAttribute('data-problem')).resolves.toBe(kind);
      await expect(problem(s).textContent()).resolves.toMatch(text);
      await s.context.close();
    });
  });
});
