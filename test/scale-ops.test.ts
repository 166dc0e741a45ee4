/**
 * The worker's operations pieces on their own: settings, the drain rule, and metrics summed over job
 * processes (snapshot files, including those of processes that have exited).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { opsSettings } from '../agent/config.ts';
import {
  countSessions,
  type DrainNotice,
  openChannel,
  publishDrain,
  readDrain,
  removeChannel,
  reportSessions,
  SnapshotWriter,
} from '../agent/ops/channel.ts';
import { drainAction, watchDrain } from '../agent/ops/drain.ts';
import { loadFunction } from '../agent/ops/load.ts';
import { JobMetrics, WorkerMetrics } from '../agent/ops/metrics.ts';
import { metricValue, parseMetrics } from './scale-helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'scale-ops-'));
  dirs.push(d);
  return d;
}

/** Polls `f` every 5 ms; resolves when true or after `ms` (the caller's assertion decides). */
async function until(f: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

describe('settings', () => {
  test('defaults, 0 = any port, off = no server', () => {
    expect(opsSettings({})).toEqual({
      metricsPort: 9464,
      metricsHost: undefined,
      drainTimeoutMs: 600_000,
      wrapUpMs: 30_000,
      drainMode: 'wait',
      handoffTimeoutMs: 20_000,
      drainReplyWaitMs: 15_000,
      loadCpu: true,
      initTimeoutMs: 30_000,
      emptyRoomTimeoutMs: 10_000,
      failedJobTimeoutMs: 120_000,
      httpPort: 8081,
      maxRejoins: 3,
      reportWebhookUrl: undefined,
      reportTimeoutMs: 5000,
      recovery: { enabled: true, pollMs: 15_000, graceMs: 10_000, max: 3 },
    });
    expect(opsSettings({ AGENT_RECOVERY: 'off' }).recovery.enabled).toBe(false);
    expect(opsSettings({ AGENT_RECOVERY_MAX: '0' }).recovery.enabled).toBe(false);
    expect(opsSettings({ AGENT_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(opsSettings({ AGENT_METRICS_PORT: 'off' }).metricsPort).toBeUndefined();
    expect(opsSettings({ AGENT_LOAD_CPU: 'false' }).loadCpu).toBe(false);
    expect(opsSettings({ AGENT_EMPTY_ROOM_TIMEOUT_S: '0' }).emptyRoomTimeoutMs).toBeUndefined();
  });

  test('every invalid variable is named', () => {
    expect(() =>
      opsSettings({ AGENT_METRICS_PORT: '99999', AGENT_DRAIN_TIMEOUT_S: '-1', AGENT_LOAD_CPU: 'maybe' }),
    ).toThrow(/AGENT_METRICS_PORT[\s\S]*AGENT_DRAIN_TIMEOUT_S[\s\S]*AGENT_LOAD_CPU/);
  });
});

describe('drain rule', () => {
  const notice: DrainNotice = { startedAt: 1000, wrapUpAt: 5000, deadline: 9000 };

  test('no drain: every conversation goes on', () => {
    expect(drainAction(undefined, { busy: false, humans: 0 }, 6000)).toBe('continue');
  });

  test('before the wrap-up a conversation goes on; an empty room ends at once', () => {
    expect(drainAction(notice, { busy: false, humans: 1 }, 2000)).toBe('continue');
    expect(drainAction(notice, { busy: false, humans: 0 }, 2000)).toBe('end');
  });

  test('from the wrap-up on, a conversation ends at a turn boundary, never mid-turn', () => {
    expect(drainAction(notice, { busy: true, humans: 2 }, 6000)).toBe('continue');
    expect(drainAction(notice, { busy: false, humans: 2 }, 6000)).toBe('end');
  });

  test('the notice: wrap-up never before the start; the watcher ends once, when the turn is over', async () => {
    const dir = tempDir();
    expect(readDrain(dir)).toBeUndefined();
    const n = publishDrain(dir, { timeoutMs: 60_000, wrapUpMs: 120_000 }, 10_000);
    expect(n).toEqual({ startedAt: 10_000, wrapUpAt: 10_000, deadline: 70_000 });
    expect(readDrain(dir)).toEqual(n);
    let busy = true;
    let polls = 0;
    const ended: DrainNotice[] = [];
    const stop = watchDrain({
      dir,
      activity: () => {
        polls++;
        return { busy, humans: 1 };
      },
      end: (x) => ended.push(x),
      intervalMs: 10,
    });
    try {
      await until(() => polls >= 3);
      expect(ended).toEqual([]);
      busy = false;
      await until(() => ended.length > 0);
      const after = polls;
      await until(() => polls > after || ended.length > 1, 200);
      expect(ended).toEqual([n]);
    } finally {
      stop();
    }
  });
});

describe('load', () => {
  test('the channel: the worker makes its own directory unless AGENT_LOAD_DIR names one, and hands it to its job processes', () => {
    const before = process.env.AGENT_LOAD_DIR;
    try {
      const own = openChannel(undefined);
      expect(own.own).toBe(true);
      expect(existsSync(own.dir)).toBe(true);
      expect(process.env.AGENT_LOAD_DIR).toBe(own.dir);
      removeChannel(own.dir);
      expect(existsSync(own.dir)).toBe(false);
      const given = join(tempDir(), 'nested');
      expect(openChannel(given)).toEqual({ dir: given, own: false });
      expect(process.env.AGENT_LOAD_DIR).toBe(given);
      reportSessions(given, 'job-a', 2);
      reportSessions(given, 'job-b', 1);
      expect(countSessions(given)).toBe(3);
      reportSessions(given, 'job-a', 0);
      expect(countSessions(given)).toBe(1);
      reportSessions(given, 'job-b', 0);
    } finally {
      if (before === undefined) delete process.env.AGENT_LOAD_DIR;
      else process.env.AGENT_LOAD_DIR = before;
    }
  });

  test('sessions only, when CPU is left out', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, String(process.pid)), '3');
    expect(await loadFunction(dir, 4, { cpu: false })()).toBe(0.75);
    writeFileSync(join(dir, String(process.pid)), '9');
    expect(await loadFunction(dir, 4, { cpu: false })()).toBe(1);
  });
});

describe('worker metrics', () => {
  test('sums live job processes, keeps the counters of exited ones, drops their gauges', async () => {
    const dir = tempDir();
    const worker = new WorkerMetrics(dir, { threshold: 0.75, processMetrics: false });
    worker.report({ load: 0.5, jobs: 2, workerId: 'AW_1', agentName: '' });

    // This process plays a live job process; a second snapshot belongs to one that has exited.
    const live = new JobMetrics();
    live.turns.inc(3);
    live.sessions.set(1);
    live.toolCalls.inc({ tool: 'get_weather', outcome: 'ok' });
    live.firstAudio.observe(0.4);
    const writer = new SnapshotWriter(live, dir, 60_000);
    await writer.flush();
    const gone = new JobMetrics();
    gone.turns.inc(2);
    gone.sessions.set(1);
    gone.toolCalls.inc({ tool: 'get_weather', outcome: 'ok' });
    gone.errors.inc({ type: 'quota' });
    gone.firstAudio.observe(2);
    const dead = deadPid();
    writeFileSync(join(dir, `${dead}.metrics.json`), JSON.stringify(await gone.snapshot()));

    let m = parseMetrics((await worker.scrape()).body);
    expect(metricValue(m, 'gemini_agent_turns_total')).toBe(5);
    expect(metricValue(m, 'gemini_agent_live_sessions')).toBe(1);
    expect(metricValue(m, 'gemini_agent_tool_calls_total', { tool: 'get_weather', outcome: 'ok' })).toBe(2);
    expect(metricValue(m, 'gemini_agent_errors_total', { type: 'quota' })).toBe(1);
    expect(metricValue(m, 'gemini_agent_first_audio_latency_seconds_count')).toBe(2);
    expect(metricValue(m, 'gemini_agent_first_audio_latency_seconds_bucket', { le: '0.5' })).toBe(1);
    expect(metricValue(m, 'gemini_agent_worker_load')).toBe(0.5);
    expect(metricValue(m, 'gemini_agent_worker_available')).toBe(1);
    expect(metricValue(m, 'gemini_agent_worker_jobs_running')).toBe(2);
    expect(m.find((s) => s.name === 'gemini_agent_worker_info')?.labels.worker_id).toBe('AW_1');
    // The exited process's file is folded in once, then removed.
    expect(readdirSync(dir)).toEqual([`${process.pid}.metrics.json`]);

    live.turns.inc();
    await writer.close();
    m = parseMetrics((await worker.scrape()).body);
    expect(metricValue(m, 'gemini_agent_turns_total')).toBe(6);
    expect(metricValue(m, 'gemini_agent_errors_total', { type: 'quota' })).toBe(1);

    worker.startDrain();
    m = parseMetrics((await worker.scrape()).body);
    expect(metricValue(m, 'gemini_agent_worker_draining')).toBe(1);
    expect(metricValue(m, 'gemini_agent_worker_available')).toBe(0);
    expect(worker.health().status).toBe('draining');
  });

  test('health: starting before the first load report, ok after, stale when reports stop', () => {
    const worker = new WorkerMetrics(tempDir(), { threshold: 0.75, processMetrics: false });
    expect(worker.health().status).toBe('starting');
    worker.report({ load: 0.9, jobs: 1, workerId: 'AW_2', agentName: 'x' });
    expect(worker.health()).toMatchObject({ status: 'ok', workerId: 'AW_2', load: 0.9 });
    expect(worker.health(Date.now() + 60_000).status).toBe('stale');
  });
});
