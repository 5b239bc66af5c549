import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Screenshots and figures of the last run; `test-results/` is not committed. */
export const ARTIFACTS = join(REPO, 'test-results', 'e2e');
export const DATA = resolve(REPO, process.env.FACESENSE_DATA ?? '../shared/data');
export const SCENES = join(DATA, 'scenes');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Photos BlazeFace finds every face in at 640×480: one face, and three faces all well above its threshold. */
export const ONE_FACE = 'single_facerec_obama-720p.jpg';
export const THREE_FACES = 'group_dlib_2008_002506.jpg';
/** Two faces, for photo mode. */
export const TWO_FACES = 'pair_facerec_two_people.jpg';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The production build, served by `vite preview` for the whole run. */
    baseUrl: string;
    /** Where that build is: a folder of this run's own, so runs side by side never share one. */
    distDir: string;
    /** Fake camera videos (y4m) made from the photos above. */
    oneFaceVideo: string;
    threeFacesVideo: string;
    /** The one-face photo held still in front of a noisy sensor: 30 frames, each with its own noise. */
    noisyFaceVideo: string;
  }
}

/**
 * `vite build` in its own process: under Vitest NODE_ENV is "test", which would give Lit's development build and
 * an unminified service worker instead of what users get.
 */
export function buildApp(outDir = join(REPO, 'dist')): Promise<unknown> {
  return promisify(execFile)(
    process.execPath,
    [
      join(REPO, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--logLevel',
      'warn',
      '--outDir',
      outDir,
      '--emptyOutDir',
    ],
    {
      cwd: REPO,
      env: { ...process.env, NODE_ENV: 'production' },
    },
  );
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise((ok) => server.close(ok));
  return port;
}

/** Serves a production build (`dist/` by default) on a free port of 127.0.0.1, a secure context like https. */
export async function servePreview(outDir = join(REPO, 'dist')): Promise<{ server: PreviewServer; url: string }> {
  const port = await freePort();
  const server = await preview({
    root: REPO,
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port, strictPort: true, open: false },
  });
  return { server, url: `http://127.0.0.1:${port}` };
}

/** A copy of the production build on a server and origin of its own, for tests that change its files or stop it. */
export interface ServedCopy {
  dir: string;
  url: string;
  /** Stops the server, as a site gone offline; the copy stays. */
  stopServer(): Promise<void>;
  /** Stops the server if it still runs, and deletes the copy. */
  close(): Promise<void>;
}

export async function servedCopy(distDir: string): Promise<ServedCopy> {
  const dir = mkdtempSync(join(tmpdir(), 'facesense-dist-'));
  cpSync(distDir, dir, { recursive: true });
  const served = await servePreview(dir);
  let server: PreviewServer | undefined = served.server;
  const stopServer = async () => {
    await server?.close();
    server = undefined;
  };
  return {
    dir,
    url: served.url,
    stopServer,
    close: async () => {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LaunchOptions {
  /** y4m file the fake camera plays. */
  video?: string;
  /** Use Chromium's software WebGL (SwiftShader) instead of disabling the GPU. */
  webgl?: boolean;
  /** More command-line switches. */
  args?: string[];
}

export function launchChromium({ video, webgl = false, args: extra = [] }: LaunchOptions = {}): Promise<Browser> {
  const args = [
    '--no-sandbox',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-device-for-media-stream',
    ...(webgl
      ? ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist']
      : ['--disable-gpu']),
    ...(video ? [`--use-file-for-fake-video-capture=${video}`] : []),
    ...extra,
  ];
  return chromium.launch({ executablePath: CHROMIUM, args });
}

export interface Session {
  context: BrowserContext;
  page: Page;
  /** Every request the pages and the service worker made. */
  requests: string[];
  /** Console errors and uncaught exceptions, CSP violations included. */
  errors: string[];
}

export interface SessionOptions {
  /** Grant the camera; without it Chromium denies `getUserMedia` (headless has no one to ask). */
  camera?: boolean;
  /** Script run in the page before the app, e.g. to replace a browser API. */
  initScript?: string;
}

export async function newSession(
  browser: Browser,
  { camera = true, initScript }: SessionOptions = {},
): Promise<Session> {
  const context = await browser.newContext({
    permissions: camera ? ['camera'] : [],
    viewport: { width: 1000, height: 720 },
  });
  const requests: string[] = [];
  const errors: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  // Chromium logs most CSP refusals itself; this makes sure each one reaches `errors`.
  await context.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
    console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`);
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, requests, errors };
}

/** The live region's sentence, e.g. "2 faces: female 93%, male 88%". */
export const liveRegion = (page: Page) => page.locator('facesense-app p[role=status]');

/** Waits until the live region reports `count` faces; returns each face's label. */
export async function waitForFaces(page: Page, count: number, timeout = 90_000): Promise<string[]> {
  const prefix = count === 1 ? '1 face: ' : `${count} faces: `;
  await page.waitForFunction(
    (p) =>
      document.querySelector('facesense-app')?.shadowRoot?.querySelector('p[role=status]')?.textContent?.startsWith(p),
    prefix,
    { timeout, polling: 200 },
  );
  const text = (await liveRegion(page).textContent()) ?? '';
  return text.slice(prefix.length).split(', ');
}

/** A face's label as announced: a calibrated probability is never shown as 100 %. */
export const LABEL = /^(female \d{1,2}%|male \d{1,2}%|uncertain)$/;

export function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, `${name}.png`);
}

/** Requests to anything but `origin` (data: and blob: URLs never leave the page). */
export function foreignRequests(requests: readonly string[], origin: string): string[] {
  return requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== origin);
}

/** A page whose visibility a test controls, in a browser of its own. */
export interface HideableSession extends Session {
  /** Minimises the page's window (hidden) or restores it (visible), and waits until the page sees it. */
  setHidden(hidden: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * Playwright's focus emulation makes Chromium count every page Playwright drives as being captured, and a captured
 * page stays visible whatever happens to its window or tab. So this launches Chromium with a debugging port, attaches
 * a second CDP client without Playwright's default overrides, and opens the page in the default context: minimising
 * its window hides it for real (`document.hidden`, `visibilitychange`), as switching tabs or minimising does for a
 * user. The camera is granted.
 */
export async function launchHideable(options: LaunchOptions = {}): Promise<HideableSession> {
  const port = await freePort();
  const launched = await launchChromium({
    ...options,
    args: [...(options.args ?? []), `--remote-debugging-port=${port}`],
  });
  try {
    const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, { noDefaults: true });
    const context = browser.contexts()[0];
    await context.grantPermissions(['camera']);
    const requests: string[] = [];
    const errors: string[] = [];
    context.on('request', (r) => requests.push(r.url()));
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const cdp = await context.newCDPSession(page);
    const { windowId } = await cdp.send('Browser.getWindowForTarget');
    return {
      context,
      page,
      requests,
      errors,
      async setHidden(hidden) {
        await cdp.send('Browser.setWindowBounds', {
          windowId,
          bounds: { windowState: hidden ? 'minimized' : 'normal' },
        });
        await page.waitForFunction((h) => document.hidden === h, hidden, { timeout: 10_000, polling: 100 });
      },
      async close() {
        await browser.close();
        await launched.close();
      },
    };
  } catch (err) {
    await launched.close();
    throw err;
  }
}

/** Drops the photo at `path` on the picture, as a user dragging it from their files. */
export async function dropPhoto(page: Page, path: string): Promise<void> {
  await page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], 'photo.jpg', { type: 'image/jpeg' }));
    const stage = document.querySelector('facesense-app')!.shadowRoot!.querySelector('main')!;
    for (const type of ['dragover', 'drop']) {
      stage.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }
  }, readFileSync(path).toString('base64'));
}
