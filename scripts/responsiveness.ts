/**
 * `npm run bench:ui`: how responsive the page stays while the camera runs. Loads the production build in Debian's
 * Chromium with a fake camera, waits for the first labelled face, then for a while records every main-thread task
 * over 50 ms (the Long Tasks API), the frames per second, and how long clicks wait before their handler runs.
 * Prints a table and writes test-results/responsiveness.json (`--json` prints that document instead).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantile } from '../src/core/stats';
import {
  buildApp,
  launchChromium,
  newSession,
  ONE_FACE,
  REPO,
  SCENES,
  servePreview,
  waitForFaces,
} from '../test/e2e/harness';
import { writeY4m } from '../test/e2e/y4m';
import { benchArgs } from './lib/bench-args';

const HELP = `Usage: npm run bench:ui -- [--seconds N] [--backend wasm|webgl|cpu] [--cpu-slowdown X] [--json] [--no-build]

Runs the production build with a fake camera (one face, a slowly moving picture) and reports, from the first
labelled face on: main-thread tasks over 50 ms (count, longest, and blocking time: the sum of each one's time over
50 ms, as Lighthouse's total blocking time counts it), frames per second, and the delay before a click's handler
runs (a click every second). Also the blocking time from navigation to the first label (loading the models).

  --seconds N        how long to watch the running camera (default 15)
  --backend B        tfjs backend, as ?backend= (default wasm; Chromium's WebGL here is SwiftShader, on the CPU)
  --cpu-slowdown X   Chromium's CPU throttling, as Lighthouse's mobile profile does with 4 (default 1: none)
  --json             print the JSON document on stdout (the table goes to stderr)
  --no-build         use the existing dist/ instead of building it
  -h, --help         this text`;

/** Long tasks (from the Long Tasks API) and click delays, recorded in the page from before the app starts. */
const RECORDER = `
  window.__responsiveness = { longTasks: [], clicks: [] };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      window.__responsiveness.longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  // Capture phase on window: the first handler any click reaches, so the delay is the main thread's alone.
  addEventListener('click', (e) => window.__responsiveness.clicks.push(performance.now() - e.timeStamp), true);
`;

interface Recorded {
  longTasks: { start: number; duration: number }[];
  clicks: number[];
}

interface TaskFigures {
  longTasks: number;
  longestTaskMs: number;
  blockingTimeMs: number;
}

function summarise(tasks: Recorded['longTasks'], from: number, to: number): TaskFigures {
  const inside = tasks.filter((t) => t.start >= from && t.start < to);
  return {
    longTasks: inside.length,
    longestTaskMs: Math.max(0, ...inside.map((t) => t.duration)),
    blockingTimeMs: inside.reduce((sum, t) => sum + Math.max(0, t.duration - 50), 0),
  };
}

async function main(): Promise<void> {
  const values = benchArgs(HELP, {
    seconds: { type: 'string', default: '15' },
    backend: { type: 'string', default: 'wasm' },
    'cpu-slowdown': { type: 'string', default: '1' },
  } as const);
  const seconds = Number(values.seconds);
  if (!(seconds >= 3 && seconds <= 300)) throw new Error('--seconds must be between 3 and 300');
  const slowdown = Number(values['cpu-slowdown']);
  if (!(slowdown >= 1 && slowdown <= 20)) throw new Error('--cpu-slowdown must be between 1 and 20');
  if (!['wasm', 'webgl', 'cpu'].includes(values.backend)) throw new Error('--backend must be wasm, webgl or cpu');
  const log = values.json ? console.error : console.log;

  const videos = mkdtempSync(join(tmpdir(), 'facesense-ui-'));
  const video = join(videos, 'one-face.y4m');
  log('building the app and the video…');
  await Promise.all([
    values['no-build'] ? undefined : buildApp(),
    writeY4m(join(SCENES, ONE_FACE), video, { frames: 90, pan: 0.1, noise: 3 }),
  ]);
  const app = await servePreview();
  const browser = await launchChromium({ video, webgl: values.backend === 'webgl' });
  try {
    const { page, context, errors } = await newSession(browser, { initScript: RECORDER });
    if (slowdown > 1) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: slowdown });
    }
    await page.goto(`${app.url}/?backend=${values.backend}`);
    await waitForFaces(page, 1, 600_000);
    const hook = () =>
      page.evaluate(() => {
        const w = window as unknown as { __facesense: { frames: number }; __responsiveness: Recorded };
        return { frames: w.__facesense.frames, now: performance.now(), ...structuredClone(w.__responsiveness) };
      });
    const start = await hook();
    // A raw click every second near the page's top-left corner, where nothing reacts to it: no actionability checks
    // (which wait for an animation frame and so for a gap between frames), just the input and the main thread.
    for (let s = 0; s < seconds; s++) {
      await page.waitForTimeout(1000);
      await page.mouse.click(4, 4);
    }
    const end = await hook();
    if (errors.length > 0) throw new Error(errors.join('; '));
    const clicks = end.clicks.slice(start.clicks.length);
    const report = {
      machine: { cpus: cpus().length, chromium: browser.version() },
      backend: values.backend,
      cpuSlowdown: slowdown,
      seconds,
      loading: { untilFirstLabelMs: start.now, ...summarise(end.longTasks, 0, start.now) },
      running: {
        ...summarise(end.longTasks, start.now, end.now),
        fps: ((end.frames - start.frames) * 1000) / (end.now - start.now),
        clickDelayMs: { median: quantile(clicks, 0.5), max: Math.max(...clicks), clicks: clicks.length },
      },
    };
    const out = join(REPO, 'test-results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'responsiveness.json'), JSON.stringify(report, null, 2));
    const r = report.running;
    log(`backend ${report.backend}, CPU slowdown ×${slowdown}, ${seconds} s of camera after the first label`);
    log(
      `loading (navigation → first label, ${report.loading.untilFirstLabelMs.toFixed(0)} ms): ` +
        `${report.loading.longTasks} long tasks, longest ${report.loading.longestTaskMs.toFixed(0)} ms, ` +
        `blocking ${report.loading.blockingTimeMs.toFixed(0)} ms`,
    );
    log(
      `running: ${r.longTasks} long tasks, longest ${r.longestTaskMs.toFixed(0)} ms, blocking ` +
        `${r.blockingTimeMs.toFixed(0)} ms (${((r.blockingTimeMs / (seconds * 1000)) * 100).toFixed(0)} % of the time), ` +
        `${r.fps.toFixed(1)} fps, click delay median ${r.clickDelayMs.median.toFixed(0)} ms, ` +
        `max ${r.clickDelayMs.max.toFixed(0)} ms`,
    );
    log('written: test-results/responsiveness.json');
    if (values.json) console.log(JSON.stringify(report, null, 2));
  } finally {
    await browser.close();
    await app.server.close();
    rmSync(videos, { recursive: true, force: true });
  }
}

await main();
