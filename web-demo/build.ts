// Builds the page with Vite into `dist/`. The orchestrator and the tests call `ensureWebDemoBuilt()`
// through `startWebDemo`; several processes may do so at once, so builds are serialised by a lock
// directory and a finished build is swapped in with one rename.
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the web demo sources (`index.html`, `src/`). */
export const WEB_DEMO_ROOT = dirname(fileURLToPath(import.meta.url));
/** Where the built bundle lives. */
export const WEB_DEMO_DIST = join(WEB_DEMO_ROOT, 'dist');

export interface BuildOptions {
  /** Build even when `dist/` is newer than every source. */
  force?: boolean;
  /** Directory to build into. Default {@link WEB_DEMO_DIST}. */
  outDir?: string;
}

async function newestMtime(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const entry of await readdir(path)) newest = Math.max(newest, await newestMtime(join(path, entry)));
  return newest;
}

async function sourcesMtime(): Promise<number> {
  const inputs = ['index.html', 'src', 'build.ts', join('..', 'package-lock.json')];
  let newest = 0;
  for (const p of inputs) newest = Math.max(newest, await newestMtime(join(WEB_DEMO_ROOT, p)).catch(() => 0));
  return newest;
}

/** True when `outDir` holds a build at least as new as every source. */
export async function isBuildFresh(outDir = WEB_DEMO_DIST): Promise<boolean> {
  const built = await stat(join(outDir, 'index.html')).catch(() => null);
  return built !== null && built.mtimeMs >= (await sourcesMtime());
}

async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than any real build belongs to a process that died mid-build.
      const age = Date.now() - ((await stat(lockDir).catch(() => null))?.mtimeMs ?? Date.now());
      if (age > 120_000) await rm(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`web-demo: timed out waiting for the build lock ${lockDir}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/**
 * Builds the bundle if it is missing or older than the sources (or always with `force`). Returns the
 * directory that holds it.
 */
export async function ensureWebDemoBuilt(o: BuildOptions = {}): Promise<string> {
  const outDir = o.outDir ?? WEB_DEMO_DIST;
  if (!o.force && (await isBuildFresh(outDir))) return outDir;
  return withLock(`${outDir}.lock`, async () => {
    // Another process may have finished the same build while this one waited.
    if (!o.force && (await isBuildFresh(outDir))) return outDir;
    const staging = `${outDir}.tmp-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    const { build } = await import('vite');
    await build({
      root: WEB_DEMO_ROOT,
      configFile: false,
      logLevel: 'warn',
      base: './',
      build: {
        outDir: staging,
        emptyOutDir: true,
        target: ['es2022', 'chrome111', 'firefox115', 'safari16.4'],
        sourcemap: false,
        chunkSizeWarningLimit: 800,
        reportCompressedSize: false,
      },
      worker: { format: 'es' },
    });
    const old = `${outDir}.old-${process.pid}`;
    await rename(outDir, old).catch(() => {});
    await rename(staging, outDir);
    await rm(old, { recursive: true, force: true });
    return outDir;
  });
}
