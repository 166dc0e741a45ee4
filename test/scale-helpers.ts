/**
 * Helpers for the scale suites: the real agent worker (`node agent/main.ts start`) in a child process,
 * its JSON log lines, and its Prometheus endpoint.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultChannelDir, type JobRecord, readJobRecords } from '../agent/ops/channel.ts';
import { freePort } from '../agent/ops/free-port.ts';

const MAIN = fileURLToPath(new URL('../agent/main.ts', import.meta.url));

export interface AgentWorkerOptions {
  livekit: { url: string; apiKey: string; apiSecret: string };
  geminiUrl: string;
  /** Extra environment (AGENT_MAX_SESSIONS, AGENT_LOAD_THRESHOLD, AGENT_DRAIN_*…). */
  env?: Record<string, string>;
  /** Extra arguments after `start` (`--agent PATH`). */
  args?: string[];
  tag: string;
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (the subset prom-client writes). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function metricValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** The real agent worker in its own process group, with its log lines parsed as they arrive. */
export class AgentWorker {
  readonly tag: string;
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = '';

  private constructor(o: AgentWorkerOptions, healthPort: number) {
    this.tag = o.tag;
    // Each worker makes its own load directory.
    const { AGENT_LOAD_DIR: _, ...inherited } = process.env;
    this.child = spawn(process.execPath, [MAIN, 'start', '--log-level', 'info', ...(o.args ?? [])], {
      env: {
        ...inherited,
        LIVEKIT_URL: o.livekit.url,
        LIVEKIT_API_KEY: o.livekit.apiKey,
        LIVEKIT_API_SECRET: o.livekit.apiSecret,
        GEMINI_API_KEY: 'test-key',
        GOOGLE_GEMINI_BASE_URL: o.geminiUrl,
        AGENT_HTTP_PORT: String(healthPort),
        AGENT_METRICS_PORT: '0',
        AGENT_METRICS_HOST: '127.0.0.1',
        AGENT_IDLE_PROCESSES: '1',
        // The test machine's CPU is shared and noisy: load by sessions only, deterministic.
        AGENT_LOAD_CPU: 'false',
        AGENT_RECONNECT_BACKOFF_MS: '50',
        ...o.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.output += text;
      if (this.output.length > 400_000) this.output = this.output.slice(-200_000);
      const parts = (this.#partial + text).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const p of parts) {
        if (!p.startsWith('{')) continue;
        try {
          this.lines.push(JSON.parse(p) as Record<string, unknown>);
        } catch {
          // Not a log line.
        }
      }
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  static async start(o: AgentWorkerOptions): Promise<AgentWorker> {
    // The product's own choice of a free port for the framework's health server (which cannot bind 0).
    return new AgentWorker(o, await freePort());
  }

  /** The jobs running in this worker (their records in its load directory), by room. */
  jobIn(room: string): JobRecord | undefined {
    if (!this.child.pid) return undefined;
    return readJobRecords(defaultChannelDir(this.child.pid)).find((r) => r.room === room);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** First log line matching `pred`, waiting for it. */
  async line(
    pred: (l: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 90_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(pred);
      if (found) return found;
      if (!this.running)
        throw new Error(`worker ${this.tag} exited before ${what}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what} of worker ${this.tag}:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  #port: number | undefined;

  /** The metrics server's port, from its log line. */
  async metricsPort(): Promise<number> {
    this.#port ??= Number(
      (await this.line((l) => l.msg === 'metrics server listening', 'metrics server')).port,
    );
    return this.#port;
  }

  /** Registered with the server (worker id). */
  async registered(timeoutMs = 120_000): Promise<string> {
    const l = await this.line((x) => x.msg === 'registered worker', 'registration', timeoutMs);
    return String(l.id);
  }

  async get(path: string): Promise<Response> {
    return fetch(`http://127.0.0.1:${await this.metricsPort()}${path}`);
  }

  async metrics(): Promise<Sample[]> {
    const res = await this.get('/metrics');
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
    return parseMetrics(await res.text());
  }

  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    return metricValue(await this.metrics(), name, labels);
  }

  /** SIGTERM to the worker alone, as Kubernetes sends it to a container's PID 1. */
  terminate(): void {
    if (this.running) this.child.kill('SIGTERM');
  }

  /** Kills the worker and every process it forked. */
  async stop(): Promise<void> {
    try {
      if (this.child.pid) process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await this.exited;
  }
}
