import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { ONE_FACE, REPO, SCENES, servePreview, THREE_FACES } from './harness';
import { writeY4m } from './y4m';

/**
 * `vite build` in its own process: under Vitest NODE_ENV is "test", which would give Lit's development build and
 * an unminified service worker instead of what users get.
 */
function buildApp(): Promise<unknown> {
  return promisify(execFile)(
    process.execPath,
    [join(REPO, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'],
    {
      cwd: REPO,
      env: { ...process.env, NODE_ENV: 'production' },
    },
  );
}

/** Builds the production app once per run, serves it, and makes the fake camera videos. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const videos = mkdtempSync(join(tmpdir(), 'facesense-e2e-'));
  const oneFaceVideo = join(videos, 'one-face.y4m');
  const threeFacesVideo = join(videos, 'three-faces.y4m');
  const noisyFaceVideo = join(videos, 'noisy-face.y4m');
  await Promise.all([
    buildApp(),
    writeY4m(join(SCENES, ONE_FACE), oneFaceVideo),
    writeY4m(join(SCENES, THREE_FACES), threeFacesVideo),
    writeY4m(join(SCENES, ONE_FACE), noisyFaceVideo, { frames: 30, noise: 6 }),
  ]);
  const { server, url } = await servePreview();
  project.provide('baseUrl', url);
  project.provide('oneFaceVideo', oneFaceVideo);
  project.provide('threeFacesVideo', threeFacesVideo);
  project.provide('noisyFaceVideo', noisyFaceVideo);
  return async () => {
    await server.close();
    rmSync(videos, { recursive: true, force: true });
  };
}
