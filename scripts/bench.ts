/**
 * `npm run bench`: FaceSense against @vladmandic/face-api in the same headless Chromium, on the same fake-camera
 * videos, in one run. Prints a table and writes test-results/bench.json (`--json` prints that document instead).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { quantile } from '../src/core/stats';
import {
  buildApp,
  freePort,
  launchChromium,
  newSession,
  ONE_FACE,
  REPO,
  SCENES,
  servePreview,
  type Session,
} from '../test/e2e/harness';
import { farPair } from '../test/e2e/far-pair';
import { writeY4m } from '../test/e2e/y4m';
import { benchArgs } from './lib/bench-args';

const HELP = `Usage: npm run bench -- [--frames N] [--json] [--no-build]

Runs the production build of FaceSense and @vladmandic/face-api (TinyFaceDetector + AgeGenderNet) on the same
fake-camera videos in Debian's Chromium, wasm backend (and a short WebGL run), and reports per-frame median and
p90 of detect, classify and total, frames per second, tensors and JS heap, the cost for 1, 2, 4 and 8 faces, two
people far off (faces about 50 px at 640×480, which only the far-face detector finds), and cold start (page load
to first labelled face; FaceSense also offline, from its service worker).

  --frames N   frames measured per run, after ${20} warm-up frames (default 150, at most 900)
  --json       print the JSON document on stdout (the table goes to stderr)
  --no-build   use the existing dist/ instead of building it
  -h, --help   this text`;

/** A photo of a crowd face-api's own examples use; BlazeFace finds six faces in it at 640×480. */
const GROUP = 'group_faceapi_bbt4.jpg';
const WARM_FRAMES = 20;
const FACE_COUNTS = [1, 2, 4, 8] as const;

interface Figures {
  detectMs: number;
  detectP90Ms: number;
  classifyMs: number;
  classifyP90Ms: number;
  totalMs: number;
  totalP90Ms: number;
  fps: number;
  /** Faces per frame, and the share of them the classifier ran on. */
  faces: number;
  classifiedShare: number;
  tensors: { start: number; end: number };
  heapMB: { start: number; end: number };
  coldStartMs: number;
}

/** The part of FaceSense's `window.__facesense` and of the face-api page's `window.__faceapi` the bench reads. */
interface Hook {
  frames: number;
  detected: number;
  classified: number;
  firstLabelAt: number;
  tensorsAfterFirstFrame: number;
  tensors: number;
  log: { frame: number; timings: { capture: number; detect: number; classify: number } }[];
}

type System = '__facesense' | '__faceapi';

async function measure(browser: Browser, url: string, hook: System, frames: number): Promise<Figures> {
  const session = await newSession(browser);
  try {
    return await measureIn(session, url, hook, frames);
  } finally {
    await session.context.close();
  }
}

async function measureIn(session: Session, url: string, name: System, frames: number): Promise<Figures> {
  const { page } = session;
  await page.goto(url);
  const read = (): Promise<Hook & { now: number; heap: number }> =>
    page.evaluate((n) => {
      const h = (window as unknown as Record<string, Hook>)[n];
      const heap = (performance as unknown as { memory: { usedJSHeapSize: number } }).memory.usedJSHeapSize;
      return { ...h, log: h.log.slice(), now: performance.now(), heap };
    }, name);
  const framesAtLeast = (n: number) =>
    page.waitForFunction(
      ([h, k]) => ((window as unknown as Record<string, Hook | undefined>)[h]?.frames ?? 0) >= k,
      [name, n] as const,
      { timeout: 600_000, polling: 100 },
    );
  await framesAtLeast(WARM_FRAMES);
  const start = await read();
  await framesAtLeast(start.frames + frames);
  const end = await read();
  if (session.errors.length > 0) throw new Error(`${url}: ${session.errors.join('; ')}`);
  const measured = end.log.filter((r) => r.frame > start.frames && r.frame <= start.frames + frames);
  const stage = (f: (t: Hook['log'][number]['timings']) => number) => measured.map((r) => f(r.timings));
  const detect = stage((t) => t.capture + t.detect);
  const classify = stage((t) => t.classify);
  const total = stage((t) => t.capture + t.detect + t.classify);
  const detected = end.detected - start.detected;
  return {
    detectMs: quantile(detect, 0.5),
    detectP90Ms: quantile(detect, 0.9),
    classifyMs: quantile(classify, 0.5),
    classifyP90Ms: quantile(classify, 0.9),
    totalMs: quantile(total, 0.5),
    totalP90Ms: quantile(total, 0.9),
    fps: ((end.frames - start.frames) * 1000) / (end.now - start.now),
    faces: detected / (end.frames - start.frames),
    classifiedShare: detected > 0 ? (end.classified - start.classified) / detected : 0,
    tensors: { start: start.tensorsAfterFirstFrame, end: end.tensors },
    heapMB: { start: start.heap / 2 ** 20, end: end.heap / 2 ** 20 },
    coldStartMs: start.firstLabelAt,
  };
}

/** FaceSense's cold start from its service worker: a visit installs it, then a reload with the network off. */
async function offlineColdStart(browser: Browser, url: string): Promise<number> {
  const session = await newSession(browser);
  const { page, context } = session;
  try {
    const labelled = () =>
      page.waitForFunction(() => (window.__facesense?.firstLabelAt ?? -1) >= 0, undefined, { timeout: 120_000 });
    await page.goto(url);
    await labelled();
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await context.setOffline(true);
    await page.reload();
    await labelled();
    return await page.evaluate(() => window.__facesense!.firstLabelAt);
  } finally {
    await session.context.close();
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
};

/** Serves the face-api page, its library, its weights and the tfjs wasm binaries from this checkout only. */
async function serveFaceApi(): Promise<{ server: Server; url: string }> {
  const roots: Record<string, string> = {
    '/lib/': join(REPO, 'node_modules/@vladmandic/face-api/dist/'),
    '/model/': join(REPO, 'node_modules/@vladmandic/face-api/model/'),
    '/wasm/': join(REPO, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/'),
    '/': join(REPO, 'scripts/bench/'),
  };
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? '/', 'http://x').pathname);
    const prefix = Object.keys(roots).find((p) => path.startsWith(p));
    try {
      const body = readFileSync(join(roots[prefix!], path.slice(prefix!.length)));
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  const port = await freePort();
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${port}/face-api.html` };
}

/** `n` copies of the one-face photo's head in a 4×2 grid, the same size whatever `n`. */
async function tiledFaces(n: number): Promise<Buffer> {
  const [tileWidth, tileHeight] = [160, 240];
  const head = await sharp(join(SCENES, ONE_FACE))
    .extract({ left: 529, top: 50, width: 280, height: 280 })
    .resize(tileWidth, tileHeight, { fit: 'contain', background: '#808080' })
    .toBuffer();
  return sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080' } })
    .composite(
      Array.from({ length: n }, (_, i) => ({
        input: head,
        left: (i % 4) * tileWidth,
        top: Math.floor(i / 4) * tileHeight,
      })),
    )
    .jpeg({ quality: 95 })
    .toBuffer();
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

function row(label: string, f: Figures): string {
  return [
    label.padEnd(38),
    `${ms(f.detectMs)}/${ms(f.detectP90Ms)}`.padStart(12),
    `${ms(f.classifyMs)}/${ms(f.classifyP90Ms)}`.padStart(12),
    `${ms(f.totalMs)}/${ms(f.totalP90Ms)}`.padStart(12),
    f.fps.toFixed(1).padStart(6),
    f.faces.toFixed(1).padStart(6),
    `${Math.round(100 * f.classifiedShare)}%`.padStart(6),
    `${f.tensors.start}→${f.tensors.end}`.padStart(10),
    `${f.heapMB.start.toFixed(0)}→${f.heapMB.end.toFixed(0)}`.padStart(9),
    ms(f.coldStartMs).padStart(8),
  ].join(' ');
}

async function main(): Promise<void> {
  const values = benchArgs(HELP, {
    frames: { type: 'string', default: '150' },
  } as const);
  const frames = Number(values.frames);
  if (!Number.isInteger(frames) || frames < 10 || frames > 900) throw new Error('--frames must be 10–900');
  const log = values.json ? console.error : console.log;

  const videos = mkdtempSync(join(tmpdir(), 'facesense-bench-'));
  const video = (name: string) => join(videos, `${name}.y4m`);
  log('building the app and the videos…');
  await Promise.all([
    values['no-build'] ? undefined : buildApp(),
    // Three seconds of a slowly moving camera, so faces move as they do in a hand-held phone's picture.
    writeY4m(join(SCENES, ONE_FACE), video('one-face'), { frames: 90, pan: 0.1, noise: 3 }),
    writeY4m(join(SCENES, GROUP), video('group'), { frames: 90, pan: 0.1, noise: 3 }),
    ...FACE_COUNTS.map(async (n) => writeY4m(await tiledFaces(n), video(`faces-${n}`))),
    farPair().then((jpeg) => writeY4m(jpeg, video('far-pair'), { frames: 30, noise: 3 })),
  ]);
  const app = await servePreview();
  const faceApi = await serveFaceApi();
  const facesense = (backend: string, extra = '') => `${app.url}/?backend=${backend}${extra}`;
  const faceapi = (backend: string) => `${faceApi.url}?backend=${backend}`;
  // Precise heap figures instead of Chromium's coarse buckets.
  const launch = (path: string, webgl = false) =>
    launchChromium({ video: path, webgl, args: ['--enable-precise-memory-info'] });

  const rows: [string, Figures][] = [];
  const run = async (browser: Browser, label: string, url: string, hook: System, n = frames) => {
    const f = await measure(browser, url, hook, n);
    rows.push([label, f]);
    log(row(label, f));
    return f;
  };
  log(
    `${'run (wasm unless said)'.padEnd(38)} ${'detect ms'.padStart(12)} ${'classify ms'.padStart(12)} ` +
      `${'total ms'.padStart(12)} ${'fps'.padStart(6)} ${'faces'.padStart(6)} ${'class.'.padStart(6)} ` +
      `${'tensors'.padStart(10)} ${'heap MB'.padStart(9)} ${'cold ms'.padStart(8)}   (median/p90)`,
  );

  let browser = await launch(video('one-face'));
  const chromium = browser.version();
  const oneFace = await run(browser, 'FaceSense, one face', facesense('wasm'), '__facesense');
  const oneFaceAlways = await run(
    browser,
    'FaceSense, one face, classify always',
    facesense('wasm', '&reclassify=always'),
    '__facesense',
  );
  const oneFaceApi = await run(browser, 'face-api, one face', faceapi('wasm'), '__faceapi');
  const offline = await offlineColdStart(browser, facesense('wasm'));
  log(`FaceSense cold start offline (service worker): ${ms(offline)} ms`);
  await browser.close();

  browser = await launch(video('group'));
  const group = await run(browser, 'FaceSense, group', facesense('wasm'), '__facesense');
  const groupAlways = await run(
    browser,
    'FaceSense, group, classify always',
    facesense('wasm', '&reclassify=always'),
    '__facesense',
  );
  const groupApi = await run(browser, 'face-api, group', faceapi('wasm'), '__faceapi');
  await browser.close();

  browser = await launch(video('far-pair'));
  const farFaces = await run(browser, 'FaceSense, two far faces', facesense('wasm'), '__facesense');
  const farFacesApi = await run(browser, 'face-api, two far faces', faceapi('wasm'), '__faceapi');
  await browser.close();

  const scaling: Record<string, { faceSense: Figures; faceApi: Figures }> = {};
  for (const n of FACE_COUNTS) {
    browser = await launch(video(`faces-${n}`));
    scaling[n] = {
      faceSense: await run(
        browser,
        `FaceSense, ${n} faces, classify always`,
        facesense('wasm', '&reclassify=always'),
        '__facesense',
      ),
      faceApi: await run(browser, `face-api, ${n} faces`, faceapi('wasm'), '__faceapi'),
    };
    await browser.close();
  }

  // SwiftShader's WebGL is slow on a CPU: a short run shows the path works and what it costs here.
  browser = await launch(video('one-face'), true);
  const webgl = await run(browser, 'FaceSense, one face, WebGL', facesense('webgl'), '__facesense', 30);
  const webglApi = await run(browser, 'face-api, one face, WebGL', faceapi('webgl'), '__faceapi', 30);
  await browser.close();

  await app.server.close();
  faceApi.server.close();
  rmSync(videos, { recursive: true, force: true });

  const summary = (f: Figures, coldStartOfflineMs?: number) => ({
    detectMs: f.detectMs,
    classifyMs: f.classifyMs,
    totalMs: f.totalMs,
    fps: f.fps,
    coldStartMs: f.coldStartMs,
    ...(coldStartOfflineMs === undefined ? {} : { coldStartOfflineMs }),
  });
  const costOf = (n: number) => scaling[n].faceSense.totalMs;
  const report = {
    machine: { cpus: cpus().length, chromium },
    framesPerRun: frames,
    faceSense: summary(oneFace, offline),
    faceApi: summary(oneFaceApi),
    ratio: {
      totalMs: oneFace.totalMs / oneFaceApi.totalMs,
      totalMsEightFaces: costOf(8) / scaling[8].faceApi.totalMs,
      totalMsFarFaces: farFaces.totalMs / farFacesApi.totalMs,
      coldStartMs: oneFace.coldStartMs / oneFaceApi.coldStartMs,
    },
    facesScaling: Object.fromEntries(FACE_COUNTS.map((n) => [n, costOf(n)])),
    facesScalingFaceApi: Object.fromEntries(FACE_COUNTS.map((n) => [n, scaling[n].faceApi.totalMs])),
    targets: {
      totalVsFaceApi: { value: oneFace.totalMs / oneFaceApi.totalMs, target: 0.5 },
      totalVsFaceApiEightFaces: { value: costOf(8) / scaling[8].faceApi.totalMs, target: 0.5 },
      classifyVsDetectOneFace: { value: oneFaceAlways.classifyMs / oneFaceAlways.detectMs, target: 0.25 },
      eightVsOneFace: { value: costOf(8) / costOf(1), target: 2.5 },
      coldStartOfflineMs: { value: offline, target: 1500 },
    },
    schedulingSaves: {
      oneFace: {
        classifiedShare: oneFace.classifiedShare,
        totalMs: oneFace.totalMs,
        totalMsAlways: oneFaceAlways.totalMs,
      },
      group: { classifiedShare: group.classifiedShare, totalMs: group.totalMs, totalMsAlways: groupAlways.totalMs },
    },
    webgl: { faceSense: summary(webgl), faceApi: summary(webglApi) },
    runs: Object.fromEntries(rows),
    groupFaceApi: summary(groupApi),
    farFaces: {
      faceSense: { ...summary(farFaces), faces: farFaces.faces },
      faceApi: { ...summary(farFacesApi), faces: farFacesApi.faces },
    },
  };
  const out = join(REPO, 'test-results', 'bench.json');
  mkdirSync(join(REPO, 'test-results'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const t = report.targets;
  log(`
FaceSense / face-api, one face: total ${t.totalVsFaceApi.value.toFixed(2)}× (target ≤ 0.5), cold start ${report.ratio.coldStartMs.toFixed(2)}×
FaceSense / face-api, 8 faces classified every frame: total ${t.totalVsFaceApiEightFaces.value.toFixed(2)}× (target ≤ 0.5)
two far faces (about 50 px): FaceSense ${ms(farFaces.totalMs)} ms, ${farFaces.faces.toFixed(1)} faces a frame; face-api ${ms(farFacesApi.totalMs)} ms, ${farFacesApi.faces.toFixed(1)} faces (${report.ratio.totalMsFarFaces.toFixed(2)}×)
classify / detect, one face, classified every frame: ${(100 * t.classifyVsDetectOneFace.value).toFixed(0)} % (target ≤ 25 %)
8 faces / 1 face, classified every frame: ${t.eightVsOneFace.value.toFixed(2)}× (target ≤ 2.5); face-api ${(scaling[8].faceApi.totalMs / scaling[1].faceApi.totalMs).toFixed(2)}×
cold start offline: ${ms(offline)} ms (target < 1500)
classifier runs per detected face: one face ${(100 * oneFace.classifiedShare).toFixed(0)} %, group ${(100 * group.classifiedShare).toFixed(0)} %
wrote ${out}`);
  if (values.json) console.log(JSON.stringify(report, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
