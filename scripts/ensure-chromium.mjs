// End-to-end tests drive Debian's Chromium through playwright-core; a browser is never downloaded.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
if (CANDIDATES.some((p) => existsSync(p))) process.exit(0);

const isRoot = process.getuid?.() === 0;
const hasApt = existsSync('/usr/bin/apt-get');
if (isRoot && hasApt) {
  console.log('ensure-chromium: no Chromium found; installing Debian\'s "chromium" with apt-get');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  process.exit(0);
}
console.error(
  'ensure-chromium: the end-to-end tests need Chromium and none was found. Install it (Debian/Ubuntu: ' +
    '"sudo apt-get install chromium") or set CHROMIUM_PATH to a Chromium or Chrome binary.',
);
process.exit(1);
