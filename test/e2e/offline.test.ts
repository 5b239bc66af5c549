import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  foreignRequests,
  launchChromium,
  newSession,
  servedCopy,
  waitForFaces,
  type ServedCopy,
  type Session,
} from './harness';

/** A copy of the build on its own server and origin: this test changes the files and stops the server. */
describe('installed app: update prompt and offline', () => {
  let copy: ServedCopy;
  let browser: Browser;
  let session: Session;

  beforeAll(async () => {
    copy = await servedCopy(inject('distDir'));
    browser = await launchChromium({ video: inject('oneFaceVideo') });
    session = await newSession(browser);
  });

  afterAll(async () => {
    await browser?.close();
    await copy?.close();
  });

  it('precaches everything and says it is ready to work offline', async () => {
    const { page } = session;
    await page.goto(`${copy.url}/?backend=wasm`);
    await page.locator('facesense-app .toast', { hasText: 'Ready to work offline' }).waitFor({ timeout: 90_000 });
    await waitForFaces(page, 1);
    // The first visit is not controlled by the worker (no clients.claim); from the next load on it is.
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await waitForFaces(page, 1);
  });

  it('shows "New version available" when a new version is deployed, and reloads into it', async () => {
    const { page } = session;
    // A new deploy changes index.html's precache revision in sw.js. The edit keeps the file's size: `vite preview`
    // serves sizes it read at start-up.
    const swPath = join(copy.dir, 'sw.js');
    const sw = readFileSync(swPath, 'utf8');
    const next = sw.replace(
      /("?url"?:\s*"index\.html",\s*"?revision"?:\s*")([0-9a-f])/,
      (_, head: string, c: string) => head + (c === '0' ? '1' : '0'),
    );
    expect(next).not.toBe(sw);
    writeFileSync(swPath, next);
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update());
    const prompt = page.locator('facesense-app .toast', { hasText: 'New version available' });
    // Chromium defers the update check of a worker that is in use, about a minute here.
    await prompt.waitFor({ timeout: 120_000 });
    await Promise.all([page.waitForEvent('load'), prompt.getByRole('button', { name: 'Reload' }).click()]);
    await waitForFaces(page, 1);
    expect(
      await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null),
    ).toBeNull();
  });

  it('reloads and labels faces with the server stopped and the network off', async () => {
    const { page, context } = session;
    await copy.stopServer();
    await context.setOffline(true);
    await page.reload();
    const labels = await waitForFaces(page, 1);
    expect(labels).toHaveLength(1);
    await expect(page.evaluate(() => window.__facesense?.backend)).resolves.toBe('wasm');
    expect(foreignRequests(session.requests, copy.url)).toEqual([]);
  });
});
