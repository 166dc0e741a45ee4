/**
 * Three real agent workers (`node agent/main.ts start`, child processes) against the LiveKit dev server
 * and the Gemini emulator: they register, rooms are spread by the load they report (Live sessions), a
 * worker over its threshold gets no new job, and a scripted conversation shows in the worker's
 * Prometheus counters — also after the job process that counted them has exited.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { dispose } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { processAlive } from '../agent/ops/process-alive.ts';
import { type GeminiEmulator, start as startGemini } from '../emulators/gemini-live/index.ts';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { Human } from './fixtures/agent/kit.ts';
import { waitFor } from './livekit-control-helpers.ts';
import { AgentWorker } from './scale-helpers.ts';

// Workers fork job processes; on a shared 2-core machine each step can take many seconds.
const SLOW = 120_000;
const REPLY = 'The weather in Paris is seventeen degrees and partly cloudy.';

let lk: LiveKitDevServer;
let gemini: GeminiEmulator;
let rooms: RoomServiceClient;
const workers: AgentWorker[] = [];
const humans: Human[] = [];
// An OTLP/HTTP trace collector: the raw protobuf export requests the job processes send.
let collector: Server;
const exports: Buffer[] = [];

beforeAll(async () => {
  lk = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  gemini = await startGemini({
    apiKey: 'test-key',
    scenario: {
      turns: [
        { steps: [{ toolCall: { name: 'get_weather', args: { city: 'Paris' } } }, { say: REPLY }] },
        { steps: [{ say: 'Moving to a new connection.' }, { goAway: { timeLeftMs: 3000 } }] },
      ],
    },
  });
  rooms = new RoomServiceClient(lk.url, lk.apiKey, lk.apiSecret);
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/v1/traces')
        exports.push(req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const otlp = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const common = { livekit: lk, geminiUrl: gemini.url };
  // A and B: four sessions each before FULL (0.25 per session). C: one session puts it over its threshold.
  // 2.5: get_weather blocks, so the scripted answer follows its result (3.8 runs it non-blocking).
  const model = { GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025' };
  const env = {
    AGENT_MAX_SESSIONS: '4',
    AGENT_LOAD_THRESHOLD: '0.9',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp,
    ...model,
  };
  workers.push(
    await AgentWorker.start({ ...common, tag: 'A', env }),
    await AgentWorker.start({ ...common, tag: 'B', env }),
    await AgentWorker.start({
      ...common,
      tag: 'C',
      // Traced like A and B: which worker serves the room whose spans are checked depends on dispatch order.
      env: {
        AGENT_MAX_SESSIONS: '1',
        AGENT_LOAD_THRESHOLD: '0.9',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp,
        ...model,
      },
    }),
  );
}, SLOW);

afterAll(async () => {
  await Promise.all(humans.splice(0).map((h) => h.close().catch(() => {})));
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await gemini?.close();
  await lk?.close();
  await new Promise((r) => collector?.close(r));
  await dispose();
}, SLOW);

/** Per worker: jobs started, Live sessions open, reported load. */
async function fleet(): Promise<{ jobs: number; sessions: number; load: number }[]> {
  return Promise.all(
    workers.map(async (w) => {
      const m = await w.metrics();
      const v = (name: string) => m.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
      return {
        jobs: v('gemini_agent_jobs_total'),
        sessions: v('gemini_agent_live_sessions'),
        load: v('gemini_agent_worker_load'),
      };
    }),
  );
}

/**
 * Opens a room with a human in it and waits until one worker runs its Live session and has reported the
 * load it adds (so the next placement sees it). Returns the index of that worker.
 */
async function openRoom(name: string): Promise<number> {
  const before = await fleet();
  const h = await Human.join(lk, name, `human-${name}`);
  humans.push(h);
  return withLogs(
    waitFor(
      async () => {
        const now = await fleet();
        const i = now.findIndex((w, k) => w.jobs === before[k]!.jobs + 1);
        if (i < 0) return undefined;
        const w = now[i]!;
        return w.sessions === before[i]!.sessions + 1 && w.load > before[i]!.load ? i : undefined;
      },
      `room ${name} served with its load reported`,
      SLOW,
      250,
    ),
  );
}

/** Adds the workers' last log lines to a failure. */
async function withLogs<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const logs = workers.map((w) => `--- worker ${w.tag}:\n${w.output.slice(-2500)}`).join('\n');
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
}

describe('agent workers at scale', { timeout: 4 * SLOW }, () => {
  test('three workers register, serve /healthz and /metrics with distinct worker ids', async () => {
    const ids = await Promise.all(workers.map((w) => w.registered()));
    expect(new Set(ids).size).toBe(3);
    for (const [i, w] of workers.entries()) {
      const health = await waitFor(
        async () => {
          const res = await w.get('/healthz');
          const body = (await res.json()) as { status: string; workerId?: string };
          return res.status === 200 && body.status === 'ok' ? body : undefined;
        },
        `worker ${w.tag} healthy`,
        SLOW,
      );
      expect(health.workerId).toBe(ids[i]);
      const m = await w.metrics();
      expect(m.find((s) => s.name === 'gemini_agent_worker_info')?.labels.worker_id).toBe(ids[i]);
      expect(m.find((s) => s.name === 'gemini_agent_worker_load_threshold')?.value).toBe(0.9);
      expect(m.some((s) => s.name === 'gemini_agent_turns_total')).toBe(true);
      expect((await w.get('/nope')).status).toBe(404);
    }
  });

  test('rooms are spread by load; the worker over its threshold gets no new job', async () => {
    // Idle fleet: each new room goes to a worker with no sessions.
    const first = [await openRoom('s-1'), await openRoom('s-2'), await openRoom('s-3')];
    expect(new Set(first).size).toBe(3);
    const c = workers.findIndex((w) => w.tag === 'C');
    await waitFor(async () => (await fleet())[c]!.load >= 0.9 || undefined, 'C reports its full load', SLOW);
    expect(await workers[c]!.value('gemini_agent_worker_available')).toBe(0);
    // C is FULL: the next rooms go to A and B, one each (least loaded first).
    const next = [await openRoom('s-4'), await openRoom('s-5')];
    expect(next).not.toContain(c);
    expect(new Set(next).size).toBe(2);
    const final = await fleet();
    expect(final.map((w) => w.jobs)).toEqual(workers.map((w) => (w.tag === 'C' ? 1 : 2)));
    expect(final.map((w) => w.sessions)).toEqual(workers.map((w) => (w.tag === 'C' ? 1 : 2)));
  });

  test('a scripted conversation shows in the counters, which outlive the job process', async () => {
    const name = 's-1';
    const h = humans.find((x) => x.identity === `human-${name}`)!;
    const w = await waitFor(async () => {
      for (const x of workers) {
        if (x.lines.some((l) => l.msg === 'participant joined' && l.room === name)) return x;
      }
      return undefined;
    }, `the worker serving ${name}`);
    // Turn 1: a tool call, then the answer.
    await h.mic.say(0.8);
    await waitFor(() => h.finals().some((t) => t.text === REPLY) || undefined, 'the weather answer', SLOW);
    // Turn 2: an answer, then goAway: the session moves to a new connection.
    await h.mic.say(0.8, { seed: 2 });
    await waitFor(
      async () =>
        (await w.value('gemini_agent_live_reconnects_total', { cause: 'goAway' })) >= 1 || undefined,
      'goAway reconnect counted',
      SLOW,
    );
    const m = await w.metrics();
    const v = (n: string, l: Record<string, string> = {}) =>
      m
        .filter((s) => s.name === n && Object.entries(l).every(([k, x]) => s.labels[k] === x))
        .reduce((a, s) => a + s.value, 0);
    expect(v('gemini_agent_tool_calls_total', { tool: 'get_weather', outcome: 'ok' })).toBe(1);
    expect(v('gemini_agent_tool_call_seconds_count', { tool: 'get_weather' })).toBe(1);
    expect(v('gemini_agent_turns_total')).toBeGreaterThanOrEqual(2);
    expect(v('gemini_agent_first_audio_latency_seconds_count')).toBeGreaterThanOrEqual(2);
    // One Live session per room this worker serves.
    expect(v('gemini_agent_live_sessions_opened_total')).toBe(v('gemini_agent_jobs_total'));
    expect(v('gemini_agent_live_connect_seconds_count')).toBe(v('gemini_agent_jobs_total'));
    expect(v('gemini_agent_errors_total')).toBe(0);

    // Logs are JSON lines carrying the room, job and participant.
    const joined = w.lines.find((l) => l.msg === 'participant joined' && l.room === name)!;
    expect(joined).toMatchObject({ participant: h.identity });
    expect(String(joined.job)).toMatch(/^AJ_/);

    // The room ends: its job process exits, its counters stay in the worker's totals.
    const turns = v('gemini_agent_turns_total');
    // Which worker got s-1 depends on dispatch order (C, the small one, serves one room; A and B two).
    const sessionsBefore = await w.value('gemini_agent_live_sessions');
    expect(sessionsBefore).toBeGreaterThanOrEqual(1);
    await rooms.deleteRoom(name);
    await waitFor(
      async () => (await w.value('gemini_agent_live_sessions')) === sessionsBefore - 1 || undefined,
      'the session closed',
      SLOW,
    );
    const pid = Number(joined.pid);
    expect(pid).not.toBe(w.child.pid);
    await waitFor(() => !processAlive(pid) || undefined, 'the job process exited', SLOW);
    const after = await w.metrics();
    const total = after.filter((s) => s.name === 'gemini_agent_turns_total').reduce((a, s) => a + s.value, 0);
    expect(total).toBeGreaterThanOrEqual(turns);
    expect(
      after
        .filter((s) => s.name === 'gemini_agent_tool_calls_total' && s.labels.tool === 'get_weather')
        .reduce((a, s) => a + s.value, 0),
    ).toBe(1);

    // Traces went to the OTLP collector: the framework's job spans with their ids, and the agent's own
    // Live session and turn spans of the room that just ended (the job waits for their export to be
    // answered before its process exits).
    const wanted = [
      'job_entrypoint',
      'lk.job_id',
      'service.name',
      'gemini-agent',
      'gemini_live_session',
      'gemini_live_turn',
      name,
    ];
    const missing = () => {
      const all = Buffer.concat(exports).toString('latin1');
      return wanted.filter((x) => !all.includes(x));
    };
    await waitFor(() => missing().length === 0, 'spans exported', SLOW).catch((err: Error) => {
      const seen = exports
        .map((b) => (b.toString('latin1').match(/[\x20-\x7e]{5,}/g) ?? []).join('|'))
        .join('\n');
      throw new Error(
        `${err.message}: ${exports.length} export requests, missing ${missing().join(', ')}\n${seen}`,
      );
    });
  });
});
