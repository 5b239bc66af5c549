/**
 * `npm run bench:lighthouse`: Lighthouse's mobile profile against the production build, in Debian's Chromium with a
 * fake camera, so the camera and the models start during the audit as they do for a user. Prints a table and writes
 * test-results/lighthouse.json (`--json` prints that document instead) and Lighthouse's own HTML report.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
// Lighthouse's own launcher: it starts Chromium with the flags Lighthouse expects.
import { launch } from 'chrome-launcher';
import lighthouse, { type Flags } from 'lighthouse';
import { CATEGORIES, summariseLighthouse, type LighthouseSummary } from './lib/lighthouse-summary';
import { buildApp, ONE_FACE, REPO, SCENES, servePreview } from '../test/e2e/harness';
import { writeY4m } from '../test/e2e/y4m';
import { benchArgs } from './lib/bench-args';

const HELP = `Usage: npm run bench:lighthouse -- [--devtools] [--json] [--no-build]

Runs Lighthouse 12 (default config: mobile form factor, simulated throttling of a slow 4G network and a 4× slower
CPU) on the production build, served by vite preview, in Debian's Chromium (headless, GPU disabled as in the
end-to-end tests) with a fake camera playing one face, which the app opens on load. Reports the category scores, the metrics
(FCP, LCP, TBT, TTI, Speed Index, CLS), the main thread's work, the longest tasks and the audits under 0.9.
Writes test-results/lighthouse.json and test-results/lighthouse-report.html (the simulated run's full report).
Lighthouse stops recording once the load has gone quiet, a few seconds in, while the worker is still loading the
models: the work of each camera frame after the first label is what \`npm run bench:ui\` measures.

  --devtools   also run the performance category with devtools throttling (the network and CPU really slowed,
               rather than simulated from an unthrottled load)
  --json       print the JSON document on stdout (the table goes to stderr)
  --no-build   use the existing dist/ instead of building it
  -h, --help   this text

Chromium is $CHROMIUM_PATH, else /usr/bin/chromium.`;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TARGETS = { performance: 0.9, totalBlockingTimeMs: 600 };

const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);
const score = (v: number | null) => (v === null ? '–' : v.toFixed(2));

function table(runs: LighthouseSummary[]): string {
  const rows: [string, (s: LighthouseSummary) => string][] = [
    ...CATEGORIES.map((c): [string, (s: LighthouseSummary) => string] => [c, (s) => score(s.scores[c])]),
    ['first contentful paint', (s) => ms(s.metrics.firstContentfulPaintMs)],
    ['largest contentful paint', (s) => ms(s.metrics.largestContentfulPaintMs)],
    ['total blocking time', (s) => ms(s.metrics.totalBlockingTimeMs)],
    ['time to interactive', (s) => ms(s.metrics.timeToInteractiveMs)],
    ['speed index', (s) => ms(s.metrics.speedIndexMs)],
    ['cumulative layout shift', (s) => s.metrics.cumulativeLayoutShift?.toFixed(3) ?? '–'],
    ['main-thread work', (s) => ms(s.mainThreadWorkMs)],
    ['long tasks', (s) => String(s.longTasks.count)],
    ['longest task', (s) => ms(s.longTasks.longest[0]?.durationMs ?? null)],
  ];
  const header = ['', ...runs.map((r) => `${r.throttlingMethod}, CPU ×${r.cpuSlowdown ?? '?'}`)];
  const cells = [header, ...rows.map(([label, cell]) => [label, ...runs.map(cell)])];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells
    .map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '))
    .join('\n');
}

/** The browser's build, e.g. "HeadlessChrome/156.0.8078.114": its user agent says only 156.0.0.0. */
async function chromiumVersion(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/json/version`);
  return ((await response.json()) as { Browser: string }).Browser;
}

async function main(): Promise<void> {
  const values = benchArgs(HELP, {
    devtools: { type: 'boolean', default: false },
  } as const);
  if (!existsSync(CHROMIUM)) {
    console.error(
      `bench:lighthouse: no Chromium at ${CHROMIUM}. Install Debian's "chromium" (sudo apt-get install chromium) ` +
        'or set CHROMIUM_PATH to a Chromium or Chrome binary.',
    );
    process.exit(1);
  }
  const log = values.json ? console.error : console.log;

  const videos = mkdtempSync(join(tmpdir(), 'facesense-lighthouse-'));
  const video = join(videos, 'one-face.y4m');
  log(values['no-build'] ? 'making the video…' : 'building the app and the video…');
  await Promise.all([
    values['no-build'] ? undefined : buildApp(),
    writeY4m(join(SCENES, ONE_FACE), video, { frames: 90, pan: 0.1, noise: 3 }),
  ]);
  const app = await servePreview();
  const url = `${app.url}/`;
  const chrome = await launch({
    chromePath: CHROMIUM,
    logLevel: 'silent',
    chromeFlags: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      // The camera the app opens on load: granted without a prompt, playing the video.
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
  try {
    const out = join(REPO, 'test-results');
    mkdirSync(out, { recursive: true });
    const audit = async (flags: Flags) => {
      const result = await lighthouse(url, { port: chrome.port, logLevel: 'error', ...flags });
      if (!result) throw new Error('Lighthouse returned no result');
      if (result.lhr.runtimeError) throw new Error(`Lighthouse: ${result.lhr.runtimeError.message}`);
      return result;
    };
    log('auditing (simulated throttling)…');
    const simulated = await audit({ output: 'html' });
    writeFileSync(join(out, 'lighthouse-report.html'), simulated.report as string);
    const runs = [summariseLighthouse(simulated.lhr)];
    if (values.devtools) {
      log('auditing the performance category (devtools throttling)…');
      runs.push(
        summariseLighthouse((await audit({ throttlingMethod: 'devtools', onlyCategories: ['performance'] })).lhr),
      );
    }
    const report = {
      machine: {
        cpus: cpus().length,
        chromium: await chromiumVersion(chrome.port),
      },
      url,
      targets: TARGETS,
      runs,
    };
    writeFileSync(join(out, 'lighthouse.json'), JSON.stringify(report, null, 2));

    log(`Lighthouse ${runs[0].lighthouseVersion}, ${runs[0].formFactor}, benchmark index ${runs[0].benchmarkIndex}`);
    log(table(runs));
    for (const run of runs) {
      const longest = run.longTasks.longest.map((t) => `${Math.round(t.durationMs)} ms (${t.url || '?'})`);
      log(`\n${run.throttlingMethod}: longest tasks ${longest.join(', ') || 'none'}`);
      for (const b of run.belowPar) {
        log(
          `  ${b.category}: ${b.id} ${b.score.toFixed(2)}${b.weight ? ` (weight ${b.weight})` : ''} ${b.displayValue ?? ''}`,
        );
      }
      for (const w of run.warnings) log(`  warning: ${w}`);
    }
    const { performance } = runs[0].scores;
    const tbt = runs[0].metrics.totalBlockingTimeMs;
    log(
      `\ntargets: performance ≥ ${TARGETS.performance} ${performance !== null && performance >= TARGETS.performance ? 'met' : 'MISSED'}, ` +
        `TBT ≤ ${TARGETS.totalBlockingTimeMs} ms ${tbt !== null && tbt <= TARGETS.totalBlockingTimeMs ? 'met' : 'MISSED'}`,
    );
    log('written: test-results/lighthouse.json, test-results/lighthouse-report.html');
    if (values.json) console.log(JSON.stringify(report, null, 2));
  } finally {
    chrome.kill();
    await app.server.close();
    rmSync(videos, { recursive: true, force: true });
  }
}

await main();
