/**
 * Child processes of the bench: the dev server and the two agent workers (ours and the reference),
 * each in its own process group so cleanup reaches the job processes a worker forks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Waiters } from '../../shared/waiters.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The caller's environment (run.ts switches NODE_ENV for the bench process alone). */
function callerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const original = env.BENCH_CALLER_NODE_ENV;
  if (original !== undefined) {
    if (original === '') delete env.NODE_ENV;
    else env.NODE_ENV = original;
  }
  return env;
}

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  output = '';
  readonly #waiters = new Waiters();

  constructor(name: string, args: string[], env: NodeJS.ProcessEnv, stdin: 'pipe' | 'ignore' = 'ignore') {
    this.name = name;
    this.proc = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: [stdin, 'pipe', 'pipe'],
      detached: true,
    });
    const onData = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
      this.#waiters.notify();
    };
    this.proc.stdout?.on('data', onData);
    this.proc.stderr?.on('data', onData);
    this.proc.on('exit', () => {
      this.#waiters.notify();
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves with the first match of `re` in the output. */
  waitFor(re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
    return this.#waiters.until(() => re.exec(this.output) ?? undefined, {
      what: `${what} (${this.name})`,
      timeoutMs,
      failure: () => (this.running ? undefined : `${this.name} exited`),
      context: () => this.output.slice(-3000),
    });
  }

  /**
   * Writes `line` to the child's stdin and resolves with the first match of `re` in the output that
   * follows (a question-and-answer channel, e.g. the dev server's `lag`).
   */
  async ask(line: string, re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const from = this.output.length;
    this.proc.stdin?.write(`${line}\n`);
    return this.#waiters.until(() => re.exec(this.output.slice(from)) ?? undefined, {
      what: `answer to ${line} (${this.name})`,
      timeoutMs,
      failure: () => (this.running ? undefined : `${this.name} exited`),
    });
  }

  /** Resolves once the leader exited, or after `timeoutMs` (a drain that takes its time). */
  async exited(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    await Promise.race([
      new Promise<void>((resolve) => this.proc.once('exit', () => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  /** SIGTERM the group, SIGKILL after `graceMs`; resolves when the leader exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-this.pid, sig);
      } catch {
        // group gone
      }
    };
    signal('SIGTERM');
    const t = setTimeout(() => signal('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
    signal('SIGKILL'); // job processes left behind by the leader
  }
}

export interface LiveKitEndpoint {
  url: string;
  apiKey: string;
  apiSecret: string;
}

/** Starts the dev server in a child process. */
export async function startDevServer(): Promise<{ child: Child; endpoint: LiveKitEndpoint }> {
  const child = new Child('livekit-dev-server', ['bench/lib/devserver-child.ts'], callerEnv(), 'pipe');
  const m = await child.waitFor(/^(\{"url".*\})$/m, 60_000, 'the dev server URL');
  return { child, endpoint: JSON.parse(m[1]!) as LiveKitEndpoint };
}

export type Side = 'ours' | 'reference';

/** What each side runs: the same `start` subcommand of an agents worker, under a distinct name. */
export const SIDES: Record<Side, { entry: string; agentName: string }> = {
  ours: { entry: 'agent/main.ts', agentName: 'ours-bench' },
  reference: { entry: 'bench/reference-agent.ts', agentName: 'reference-bench' },
};

export interface WorkerStartOptions {
  livekit: LiveKitEndpoint;
  geminiUrl: string;
  /** Extra environment (e.g. VAD settings). */
  env?: Record<string, string>;
  /** Load `agent-probe.ts` into the worker and its job processes, writing here. */
  probeDir?: string;
}

const PROBE = fileURLToPath(new URL('./agent-probe.ts', import.meta.url));

/** Starts one side's worker and waits until it registered with the dev server. */
export async function startWorker(side: Side, o: WorkerStartOptions): Promise<Child> {
  const { entry, agentName } = SIDES[side];
  const caller = callerEnv();
  const probe: Record<string, string> = o.probeDir
    ? {
        BENCH_PROBE_DIR: o.probeDir,
        NODE_OPTIONS: [caller.NODE_OPTIONS, `--import=${PROBE}`].filter(Boolean).join(' '),
      }
    : {};
  const child = new Child(
    `${side} worker`,
    [entry, 'start', '--log-level', process.env.BENCH_WORKER_LOG ?? 'info'],
    {
      ...caller,
      ...probe,
      BENCH_HEALTH_PORT: String(await freePort()),
      AGENT_HTTP_PORT: String(await freePort()),
      AGENT_METRICS_PORT: '0',
      // Same pool as the reference: one pre-forked idle job process.
      AGENT_IDLE_PROCESSES: '1',
      BENCH_IDLE_PROCESSES: '1',
      // Report load by sessions only: the bench decides how many rooms one worker gets.
      AGENT_LOAD_CPU: 'false',
      LIVEKIT_URL: o.livekit.url,
      LIVEKIT_API_KEY: o.livekit.apiKey,
      LIVEKIT_API_SECRET: o.livekit.apiSecret,
      GOOGLE_GEMINI_BASE_URL: o.geminiUrl,
      GEMINI_API_KEY: 'bench-key',
      GOOGLE_API_KEY: 'bench-key',
      AGENT_NAME: agentName,
      BENCH_AGENT_NAME: agentName,
      AGENT_LOG_LEVEL: process.env.BENCH_AGENT_LOG_LEVEL ?? 'warn',
      // Capacity is measured by the bench: let the worker take every job.
      AGENT_MAX_SESSIONS: '1000',
      AGENT_LOAD_THRESHOLD: '1',
      BENCH_ASSUME_SUBSCRIBED: '1',
      ...o.env,
    },
  );
  await child.waitFor(/registered worker/, 90_000, 'worker registration');
  return child;
}

/** A TCP port that was free a moment ago (the agents health server cannot take port 0). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
