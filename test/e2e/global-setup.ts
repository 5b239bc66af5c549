import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildApp, ONE_FACE, SCENES, servePreview, THREE_FACES } from './harness';
import { writeY4m } from './y4m';

/** Builds the production app once per run into a folder of its own, serves it, and makes the fake camera videos. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const videos = mkdtempSync(join(tmpdir(), 'facesense-e2e-'));
  const dist = join(videos, 'dist');
  const oneFaceVideo = join(videos, 'one-face.y4m');
  const threeFacesVideo = join(videos, 'three-faces.y4m');
  const noisyFaceVideo = join(videos, 'noisy-face.y4m');
  await Promise.all([
    buildApp(dist),
    writeY4m(join(SCENES, ONE_FACE), oneFaceVideo),
    writeY4m(join(SCENES, THREE_FACES), threeFacesVideo),
    writeY4m(join(SCENES, ONE_FACE), noisyFaceVideo, { frames: 30, noise: 6 }),
  ]);
  const { server, url } = await servePreview(dist);
  project.provide('baseUrl', url);
  project.provide('distDir', dist);
  project.provide('oneFaceVideo', oneFaceVideo);
  project.provide('threeFacesVideo', threeFacesVideo);
  project.provide('noisyFaceVideo', noisyFaceVideo);
  return async () => {
    await server.close();
    rmSync(videos, { recursive: true, force: true });
  };
}
