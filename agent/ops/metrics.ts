import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import type { McpEvent } from '../mcp/events.ts';
import { readSnapshots } from './channel.ts';

/**
 * Prometheus metrics of the agent. Job processes (forked by @livekit/agents, one per room) count what
 * happens in their room in a {@link JobMetrics} registry and publish it as a snapshot through the
 * worker's channel (ops/channel.ts `SnapshotWriter`); the worker sums every snapshot with its own gauges
 * on each scrape ({@link WorkerMetrics}). A job process that ends leaves its last snapshot behind for
 * the worker to fold into its totals: counters stay monotonic across the short lives of job processes.
 */

/** Name of the worker load gauge; the Kubernetes HPA scales on it (deploy/kubernetes/agent-worker.yaml). */
export const WORKER_LOAD_METRIC = 'gemini_agent_worker_load';

type MetricJson = MetricObjectWithValues<MetricValue<string>>;

/** Counters and histograms of one job process; every name is also served by the worker. */
export class JobMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({
    name: 'gemini_agent_jobs_total',
    help: 'Jobs (rooms) started by this worker.',
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: 'gemini_agent_live_sessions',
    help: 'Gemini Live sessions open now.',
    registers: [this.registry],
  });
  readonly sessionsOpened = new Counter({
    name: 'gemini_agent_live_sessions_opened_total',
    help: 'Gemini Live sessions that completed their first setup.',
    registers: [this.registry],
  });
  readonly connectSeconds = new Histogram({
    name: 'gemini_agent_live_connect_seconds',
    help: 'Time from opening a Live session to its first setupComplete.',
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20],
    registers: [this.registry],
  });
  readonly turns = new Counter({
    name: 'gemini_agent_turns_total',
    help: 'Model turns completed (turnComplete).',
    registers: [this.registry],
  });
  readonly interruptions = new Counter({
    name: 'gemini_agent_interruptions_total',
    help: 'Model replies cut by barge-in (interrupted).',
    registers: [this.registry],
  });
  readonly firstAudio = new Histogram({
    name: 'gemini_agent_first_audio_latency_seconds',
    help: "Time from the user's transcribed input to the first audio of the model's reply.",
    buckets: [0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    registers: [this.registry],
  });
  readonly reconnects = new Counter({
    name: 'gemini_agent_live_reconnects_total',
    help: 'Live connections replaced, by cause (goAway: server-announced migration; closed: dropped).',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly toolCalls = new Counter({
    name: 'gemini_agent_tool_calls_total',
    help: 'Tool calls finished, by tool and outcome (ok, error, cancelled).',
    labelNames: ['tool', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly toolSeconds = new Histogram({
    name: 'gemini_agent_tool_call_seconds',
    help: 'Tool call run time, by tool.',
    labelNames: ['tool'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: 'gemini_agent_tokens_total',
    help:
      'Tokens Gemini Live reported (usageMetadata), by direction (input, output, cached: the part of input ' +
      'served from cache, thought, tool_use), modality and model.',
    labelNames: ['direction', 'modality', 'model'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'gemini_agent_errors_total',
    help: 'Errors by type: Live failures (auth, model, quota, invalid, unavailable), context_lost, config.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  readonly mcpServersUp = new Gauge({
    name: 'gemini_agent_mcp_servers_up',
    help: "MCP server connections up, by server (one per room using it: a sum over the worker's rooms).",
    labelNames: ['server'] as const,
    registers: [this.registry],
  });
  readonly mcpServerFailures = new Counter({
    name: 'gemini_agent_mcp_server_failures_total',
    help: 'MCP server connections that failed or were lost (each failed retry counts again), by server.',
    labelNames: ['server'] as const,
    registers: [this.registry],
  });
  readonly mcpCalls = new Counter({
    name: 'gemini_agent_mcp_calls_total',
    help: 'MCP tool calls finished, by server, tool (its name on the server) and outcome (agent/mcp/events.ts).',
    labelNames: ['server', 'tool', 'outcome'] as const,
    registers: [this.registry],
  });
  /** Counts one event of the job's MCP servers (`McpTools`' `onEvent`). */
  mcp(e: McpEvent): void {
    if (e.type === 'server_up') {
      this.mcpServersUp.set({ server: e.server }, 1);
    } else if (e.type === 'server_down') {
      this.mcpServerFailures.inc({ server: e.server });
      this.mcpServersUp.set({ server: e.server }, 0);
    } else if (e.type === 'call') {
      this.mcpCalls.inc({ server: e.server, tool: e.tool, outcome: e.outcome });
    }
  }

  /** The snapshot the worker reads. */
  snapshot(): Promise<MetricJson[]> {
    return this.registry.getMetricsAsJSON() as Promise<MetricJson[]>;
  }
}

/** Worker status for `/healthz`. */
export interface WorkerHealth {
  status: 'starting' | 'ok' | 'draining' | 'stale';
  workerId: string | undefined;
  load: number | undefined;
  /** Ms since the worker last computed its load (it does so every 2.5 s while connected). */
  lastReportAgoMs: number | undefined;
}

/**
 * Worker side: its own gauges (load, threshold, draining, running jobs) plus the sum of the job
 * processes' snapshots. Snapshots of processes that have exited are folded into retired totals
 * (counters and histograms only: a dead process has no open sessions) and deleted.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly load = new Gauge({
    name: WORKER_LOAD_METRIC,
    help: 'Load the worker reports to LiveKit (0–1): max of CPU use and Live sessions / AGENT_MAX_SESSIONS.',
    registers: [this.registry],
  });
  readonly threshold = new Gauge({
    name: 'gemini_agent_worker_load_threshold',
    help: 'Load at which the worker reports FULL and gets no new jobs (AGENT_LOAD_THRESHOLD).',
    registers: [this.registry],
  });
  readonly available = new Gauge({
    name: 'gemini_agent_worker_available',
    help: '1 while the worker reports AVAILABLE, 0 while FULL or draining.',
    registers: [this.registry],
  });
  readonly draining = new Gauge({
    name: 'gemini_agent_worker_draining',
    help: '1 once SIGTERM started the drain.',
    registers: [this.registry],
  });
  readonly jobsRunning = new Gauge({
    name: 'gemini_agent_worker_jobs_running',
    help: 'Jobs running in this worker now.',
    registers: [this.registry],
  });
  readonly info = new Gauge({
    name: 'gemini_agent_worker_info',
    help: 'Worker identity (value 1).',
    labelNames: ['worker_id', 'agent_name'] as const,
    registers: [this.registry],
  });
  readonly recoveryPolls = new Counter({
    name: 'gemini_agent_worker_recovery_polls_total',
    help: 'Polls of the rooms for agents whose worker died (AGENT_RECOVERY_POLL_S), finished or failed.',
    registers: [this.registry],
  });
  readonly recoveries = new Counter({
    name: 'gemini_agent_worker_recoveries_total',
    help: 'Deaths handled by this worker (cause job|worker) and what it did (dispatched, no people, agent present, limit reached, failed).',
    labelNames: ['cause', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #dir: string;
  #retired: MetricJson[] = [];
  #workerId: string | undefined;
  #lastReportAt: number | undefined;
  #lastLoad: number | undefined;
  readonly #thresholdValue: number;
  #isDraining = false;
  #scraping: Promise<unknown> = Promise.resolve();

  constructor(dir: string, o: { threshold: number; processMetrics?: boolean }) {
    this.#dir = dir;
    this.#thresholdValue = o.threshold;
    this.threshold.set(o.threshold);
    this.available.set(0);
    this.draining.set(0);
    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Records one load report (called from the worker's load function every 2.5 s). */
  report(o: { load: number; jobs: number; workerId: string; agentName: string }): void {
    this.#lastReportAt = Date.now();
    this.#lastLoad = o.load;
    this.load.set(o.load);
    this.jobsRunning.set(o.jobs);
    this.available.set(!this.#isDraining && o.load < this.#thresholdValue ? 1 : 0);
    if (o.workerId !== this.#workerId && o.workerId !== 'unregistered') {
      this.info.reset();
      this.info.set({ worker_id: o.workerId, agent_name: o.agentName }, 1);
      this.#workerId = o.workerId;
    }
  }

  /** The drain started: the framework reports FULL (load 1) from now on. */
  startDrain(): void {
    this.#isDraining = true;
    this.draining.set(1);
    this.available.set(0);
    this.load.set(1);
  }

  health(now = Date.now()): WorkerHealth {
    const ago = this.#lastReportAt === undefined ? undefined : now - this.#lastReportAt;
    const status: WorkerHealth['status'] = this.#isDraining
      ? 'draining'
      : ago === undefined
        ? 'starting'
        : ago > 15_000
          ? 'stale'
          : 'ok';
    return { status, workerId: this.#workerId, load: this.#lastLoad, lastReportAgoMs: ago };
  }

  /** Prometheus text of the worker and all its job processes. */
  scrape(): Promise<{ body: string; contentType: string }> {
    // One at a time: two scrapes must not both fold the same exited process into the totals.
    const next = this.#scraping.then(() => this.#scrape());
    this.#scraping = next.catch(() => {});
    return next;
  }

  async #scrape(): Promise<{ body: string; contentType: string }> {
    const { running, exited } = readSnapshots<MetricJson[]>(this.#dir);
    for (const snapshot of exited) {
      const kept = snapshot.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram');
      this.#retired = (await AggregatorRegistry.aggregate([
        this.#retired,
        kept,
      ]).getMetricsAsJSON()) as MetricJson[];
    }
    const own = (await this.registry.getMetricsAsJSON()) as MetricJson[];
    // Job metrics appear (at zero) before the first job, so dashboards and alerts see them.
    const zero = await new JobMetrics().snapshot();
    const merged = AggregatorRegistry.aggregate([own, zero, this.#retired, ...running]);
    return { body: await merged.metrics(), contentType: this.registry.contentType };
  }
}
