import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, newSession, waitForFaces, type Session } from './harness';

const baseUrl = inject('baseUrl');

/** `_headers` in the build: the policy static hosts serve, and the one `npm start` must serve too. */
function builtHeaders(): Record<string, string> {
  const text = readFileSync(join(inject('distDir'), '_headers'), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line.startsWith('  '))
      .map((line) => {
        const at = line.indexOf(':');
        return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
      }),
  );
}

describe('security policy of the served app', () => {
  let browser: Browser;
  let session: Session;

  beforeAll(async () => {
    browser = await launchChromium({ video: inject('oneFaceVideo') });
    session = await newSession(browser);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('serves a CSP with no remote origin and a Permissions-Policy with the camera for itself only', async () => {
    const response = await session.page.goto(`${baseUrl}/?backend=wasm`);
    const headers = response!.headers();
    const expected = builtHeaders();
    expect(headers['content-security-policy']).toBe(expected['content-security-policy']);
    expect(headers['permissions-policy']).toBe(expected['permissions-policy']);
    const csp = headers['content-security-policy'];
    expect(csp).toMatch(/(^|; )default-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )connect-src 'self'(;|$)/);
    expect(csp).not.toMatch(/https?:|\*|'unsafe-eval'|'unsafe-inline'/);
    expect(headers['permissions-policy']).toMatch(/(^|, )camera=\(self\)(,|$)/);
  });

  it('puts the same CSP in the page itself, for hosts that cannot set headers', async () => {
    const meta = await session.page.locator('meta[http-equiv=Content-Security-Policy]').getAttribute('content');
    expect(builtHeaders()['content-security-policy']).toBe(`${meta}; frame-ancestors 'none'`);
  });

  it('lets this origin use the camera and no other, and runs the app without a single policy violation', async () => {
    const { page } = session;
    const allows = await page.evaluate(() => {
      const policy = (document as Document & { featurePolicy: { allowsFeature(f: string, o?: string): boolean } })
        .featurePolicy;
      return {
        camera: policy.allowsFeature('camera'),
        cameraElsewhere: policy.allowsFeature('camera', 'https://example.org'),
        microphone: policy.allowsFeature('microphone'),
        geolocation: policy.allowsFeature('geolocation'),
      };
    });
    expect(allows).toEqual({ camera: true, cameraElsewhere: false, microphone: false, geolocation: false });
    await waitForFaces(page, 1);
    expect(session.errors).toEqual([]);
  });

  it('refuses code evaluated from a string', async () => {
    const { page } = session;
    // A script element, not page.evaluate: DevTools' own evaluation is exempt from the page's CSP.
    const outcome = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          document.addEventListener('securitypolicyviolation', (e) => resolve(`refused: ${e.violatedDirective}`), {
            once: true,
          });
          const script = document.createElement('script');
          script.textContent = 'window.__evaluated = eval("1 + 1")';
          document.head.append(script);
          setTimeout(
            () => resolve(`ran: ${String((window as unknown as { __evaluated?: number }).__evaluated)}`),
            2000,
          );
        }),
    );
    expect(outcome).toMatch(/^refused: script-src/);
  });
});
