import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, newSession, servedCopy, waitForFaces, type ServedCopy, type Session } from './harness';

const WEIGHTS = '/models/gender/weights.bin';
const MODEL_JSON = '/models/gender/model.json';

/** Overwrites every cached copy of `path` (the service worker's precache included), as a damaged disk would. */
function damageCached(page: Page, path: string, body: string): Promise<number> {
  return page.evaluate(
    async ([p, b]) => {
      let replaced = 0;
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
          if (new URL(request.url).pathname !== p) continue;
          await cache.put(request, new Response(b));
          replaced++;
        }
      }
      return replaced;
    },
    [path, body],
  );
}

/** sha256 of each cached copy of `path`. */
function cachedSha256(page: Page, path: string): Promise<string[]> {
  return page.evaluate(async (p) => {
    const sums: string[] = [];
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const request of await cache.keys()) {
        if (new URL(request.url).pathname !== p) continue;
        const data = await (await cache.match(request))!.arrayBuffer();
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
        sums.push(Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''));
      }
    }
    return sums;
  }, path);
}

/** A copy of the build on its own server and origin: the last test stops the server. */
describe('installed app: a damaged or mixed cached model is never used', () => {
  let copy: ServedCopy;
  let browser: Browser;
  let session: Session;
  let expected: Record<string, string>;
  const warnings: string[] = [];

  beforeAll(async () => {
    copy = await servedCopy(inject('distDir'));
    expected = JSON.parse(readFileSync(join(copy.dir, 'models', 'gender', 'metadata.json'), 'utf8')).weights;
    browser = await launchChromium({ video: inject('oneFaceVideo') });
    session = await newSession(browser);
    session.page.on('console', (m) => {
      if (m.type() === 'warning') warnings.push(m.text());
    });
    const { page } = session;
    await page.goto(`${copy.url}/?backend=wasm`);
    await page.locator('facesense-app .toast', { hasText: 'Ready to work offline' }).waitFor({ timeout: 90_000 });
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await waitForFaces(page, 1);
  });

  afterAll(async () => {
    await browser?.close();
    await copy?.close();
  });

  it('finds damaged cached weights on load, downloads them again and repairs the cache', async () => {
    const { page } = session;
    expect(await damageCached(page, WEIGHTS, 'not the weights')).toBe(1);
    warnings.length = 0;
    await page.reload();
    await waitForFaces(page, 1);
    expect(warnings.join('\n')).toMatch(/downloaded again: weights\.bin does not match its sha256/);
    expect(await cachedSha256(page, WEIGHTS)).toEqual([expected['weights.bin']]);
  });

  it('never pairs the weights with a model.json of another version', async () => {
    const { page } = session;
    const other = JSON.parse(readFileSync(join(copy.dir, 'models', 'gender', 'model.json'), 'utf8'));
    other.generatedBy = 'an older export';
    expect(await damageCached(page, MODEL_JSON, JSON.stringify(other))).toBe(1);
    warnings.length = 0;
    await page.reload();
    await waitForFaces(page, 1);
    expect(warnings.join('\n')).toMatch(/downloaded again: model\.json does not match its sha256/);
    expect(await cachedSha256(page, MODEL_JSON)).toEqual([expected['model.json']]);
  });

  it('offline with a damaged copy: says what is wrong and what to do, and shows no labels', async () => {
    const { page, context } = session;
    expect(await damageCached(page, WEIGHTS, 'not the weights')).toBe(1);
    await copy.stopServer();
    await context.setOffline(true);
    await page.reload();
    const panel = page.locator('facesense-app .panel[role=alert]');
    await panel.waitFor({ timeout: 90_000 });
    expect(await panel.locator('h2').textContent()).toBe('The face models could not load');
    expect(await panel.locator('p').textContent()).toMatch(
      /saved copy of the gender model is damaged \(weights\.bin does not match its sha256\).*Connect to the internet and reload/,
    );
    expect(await page.evaluate(() => window.__facesense)).toBeUndefined();
  });
});
