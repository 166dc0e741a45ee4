#!/usr/bin/env node
// Runs before `npm start` / `npm test` under whatever Node the machine has (possibly 20), so it must stay
// plain JavaScript. It makes a fresh clone runnable: dependencies (which include a pinned Node 24 binary
// that npm puts first on PATH for every script) and, for the browser tests, Debian's Chromium.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const want = process.argv.slice(2);

function run(cmd, args) {
  console.error(`[bootstrap] ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
}

const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
const pinnedNode = join(root, 'node_modules', '.bin', 'node');
if (
  !existsSync(installed) ||
  !existsSync(pinnedNode) ||
  statSync(installed).mtimeMs < statSync(lock).mtimeMs
) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

if (want.includes('--browser')) {
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) {
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (isRoot && existsSync('/usr/bin/apt-get')) {
      run('apt-get', ['update', '-qq']);
      run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium']);
    } else {
      console.error(
        `[bootstrap] ${chromium} is missing: install Debian's chromium (or set CHROMIUM_PATH); browser tests will fail.`,
      );
    }
  }
}
