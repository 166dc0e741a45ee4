/**
 * `npm start` (stack/cli.ts) as users run it: with nothing configured it brings up every local stand-in
 * and the agent worker, prints one "name URL" line per service, and stops cleanly on SIGTERM. A port
 * that is already taken stops it with the service and the setting that picks another port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { Waiters } from '../shared/waiters.ts';

const CLI = join(import.meta.dirname, '..', 'stack', 'cli.ts');
const FREE_PORTS = ['--web-port', '0', '--token-port', '0', '--gemini-port', '0', '--livekit-port', '0'];

/** The stack as a child process, with none of the real services configured. */
async function startStack(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, AGENT_LOAD_CPU: 'false' };
  // As a user runs it: the worker's internal ports are the stack's to choose.
  for (const name of [
    'LIVEKIT_URL',
    'LIVEKIT_API_KEY',
    'LIVEKIT_API_SECRET',
    'GEMINI_API_KEY',
    'AGENT_HTTP_PORT',
    'AGENT_METRICS_PORT',
  ])
    delete env[name];
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const waiters = new Waiters();
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => {
    out.stdout += d.toString();
    waiters.notify();
  });
  child.stderr.on('data', (d: Buffer) => {
    out.stderr += d.toString();
    waiters.notify();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const until = (pattern: RegExp, what: string) =>
    waiters.until(() => pattern.exec(out.stdout) ?? undefined, {
      what,
      timeoutMs: 90_000,
      failure: () => (child.exitCode !== null ? `npm start exited (${child.exitCode})` : undefined),
      context: () => `${out.stdout.slice(-2000)}\n${out.stderr.slice(-2000)}`,
    });
  return { child, out, exited, until };
}

/** Listens on `port` if it is free (something else may already hold it: busy either way). */
async function holdPort(port: number): Promise<{ close(): Promise<void> } | undefined> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, resolve.bind(null, true));
  });
  if (!listening) return undefined;
  return { close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let running: ChildProcess | undefined;
afterEach(async () => {
  const child = running;
  running = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  // SIGTERM first: the stack then stops the agent worker it spawned; SIGKILL would orphan it.
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}, 30_000);

describe('npm start (stack/cli.ts)', () => {
  it('starts every stand-in and the agent worker, announces them, and stops on SIGTERM', async () => {
    // The worker's default health (8081) and metrics (9464) ports are busy, as on a developer's machine
    // running something else there: the stack must not die of it.
    const held = await Promise.all([8081, 9464].map(holdPort));
    onTestFinished(() => Promise.all(held.map((h) => h?.close())).then(() => {}));
    const stack = await startStack(FREE_PORTS);
    running = stack.child;
    const urls: Record<string, string> = {};
    for (const name of ['livekit', 'gemini', 'token-server', 'web-demo']) {
      const line = await stack.until(new RegExp(`^${name} (\\S+)$`, 'm'), `the ${name} line`);
      urls[name] = line[1]!;
    }
    expect(urls.livekit).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    for (const name of ['gemini', 'token-server', 'web-demo']) {
      const res = await fetch(`${urls[name]}/healthz`);
      expect(res.status, name).toBe(200);
    }
    expect((await fetch(`${urls.livekit!.replace('ws:', 'http:')}/`)).status).toBe(200);
    // The worker registers with the dev server the stack started.
    await stack.until(/registered worker/, 'the agent worker to register');

    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
  }, 120_000);

  it('names the service and the setting when its port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const args = [...FREE_PORTS];
      args[1] = String(port);
      const stack = await startStack([...args, '--no-agent']);
      running = stack.child;
      expect(await stack.exited).toBe(1);
      expect(stack.out.stderr).toContain(
        `port ${port} for the web demo is already in use (another \`npm start\`?): stop what holds it, or choose another port with WEB_DEMO_PORT`,
      );
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  }, 60_000);
});
