/**
 * `npm run bench` — our agent and LiveKit's reference Gemini plugin, side by side, against the same
 * Gemini emulator, LiveKit dev server and input audio. Prints a table and writes
 * `bench/results/latest.json`.
 *
 *   node bench/run.ts [--quick] [--sides ours,reference] [--only transport,latency,bargein,long,capacity]
 *                     [--levels 1,5,10] [--turns N] [--barge-ins N] [--long-seconds S] [--window S]
 *                     [--out FILE]
 *
 * `--quick` is the ≤ 3 minute version (fewer turns, shorter long session, two capacity levels).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Child,
  type LiveKitEndpoint,
  SIDES,
  type Side,
  startDevServer,
  startWorker,
} from './children.ts';
import {
  type BargeInSample,
  type CapacityResult,
  type LatencyTurn,
  type LongSessionResult,
  measureTransport,
  type PhaseContext,
  runBargeIn,
  runCapacity,
  runLatency,
  runLongSession,
  type TransportResult,
} from './phases.ts';
import { ratio, type Summary, summarize } from './stats.ts';
import { LiveTap } from './tap.ts';

const PHASES = ['transport', 'latency', 'bargein', 'long', 'capacity'] as const;
type Phase = (typeof PHASES)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sides: { type: 'string', default: 'reference,ours' },
    only: { type: 'string', default: PHASES.join(',') },
    levels: { type: 'string' },
    turns: { type: 'string' },
    'barge-ins': { type: 'string' },
    'long-seconds': { type: 'string' },
    window: { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('../results/latest.json', import.meta.url)) },
  },
});
const quick = args.quick ?? false;
const sides = args.sides!.split(',').map((s) => s.trim()) as Side[];
for (const s of sides) if (!(s in SIDES)) throw new Error(`unknown side ${s}`);
const only = new Set(args.only!.split(',').map((s) => s.trim()) as Phase[]);

const plan = quick
  ? { probe: 0, turns: 6, bargeIns: 4, longSeconds: 10, levels: [1, 2], window: 5 }
  : {
      probe: 30,
      turns: 30,
      bargeIns: 20,
      longSeconds: 90,
      levels: [1, 4, 8, 12, 16, 24, 32, 50],
      window: 25,
    };
if (args.levels) plan.levels = args.levels.split(',').map(Number);
if (args.turns) plan.turns = Number(args.turns);
if (args['barge-ins']) plan.bargeIns = Number(args['barge-ins']);
if (args['long-seconds']) plan.longSeconds = Number(args['long-seconds']);
if (args.window) plan.window = Number(args.window);
/** goAway cadence of the long session: a connection lives 5 s, goAway 2 s before its end. */
const LONG_LIMITS = { connectionLifetimeMs: 5000, goAwayNoticeMs: 2000 };

mkdirSync(dirname(args.out!), { recursive: true });
const t0 = Date.now();
const log = (line: string) =>
  process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);

interface SideResults {
  latency?: LatencyTurn[];
  bargeIn?: BargeInSample[];
  long?: LongSessionResult;
  capacity?: CapacityResult;
  error?: string;
}

const results: Partial<Record<Side, SideResults>> = {};
let transport: TransportResult | undefined;
let devServer: Child | undefined;
let tap: LiveTap | undefined;
let worker: Child | undefined;

const probeDirs: string[] = [];

async function cleanup(): Promise<void> {
  for (const d of probeDirs) rmSync(d, { recursive: true, force: true });
  await worker?.stop();
  await devServer?.stop();
  if (devServer) writeFileSync(join(dirname(args.out!), 'devserver.log'), devServer.output);
  await tap?.close();
}
process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

try {
  log(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const dev = await startDevServer();
  devServer = dev.child;
  const livekit: LiveKitEndpoint = dev.endpoint;
  log(`dev server ${livekit.url} (pid ${devServer.pid})`);
  tap = new LiveTap('http://127.0.0.1:1');
  await tap.listen();

  // The separate probe is a fallback: latency turns carry their own in-room transport probe.
  if (plan.probe > 0 && (only.has('transport') || only.has('latency'))) {
    transport = await measureTransport(livekit, plan.probe);
    log(
      `transport one-way onset p50 ${summarize(transport.onset).p50} ms, offset p50 ${summarize(transport.offset).p50} ms`,
    );
  }

  for (const side of sides) {
    const r: SideResults = {};
    results[side] = r;
    try {
      log(`${side}: starting worker (${SIDES[side].entry})`);
      const probeDir = mkdtempSync(join(os.tmpdir(), `bench-probe-${side}-`));
      probeDirs.push(probeDir);
      worker = await startWorker(side, { livekit, geminiUrl: tap.url, probeDir });
      const ctx: PhaseContext = {
        side,
        probeDir,
        agentName: SIDES[side].agentName,
        livekit,
        tap,
        worker,
        devServer,
        log,
      };
      const phase = async <T>(name: Phase, f: () => Promise<T>): Promise<T | undefined> => {
        if (!only.has(name)) return undefined;
        log(`${side}: ${name}`);
        try {
          return await f();
        } catch (err) {
          log(`${side}: ${name} failed: ${(err as Error).message}`);
          r.error = `${r.error ? `${r.error}; ` : ''}${name}: ${(err as Error).message.split('\n')[0]}`;
          return undefined;
        }
      };
      r.latency = await phase('latency', () => runLatency(ctx, plan.turns));
      r.bargeIn = await phase('bargein', () => runBargeIn(ctx, plan.bargeIns));
      r.long = await phase('long', () => runLongSession(ctx, plan.longSeconds, LONG_LIMITS));
      r.capacity = await phase('capacity', () => runCapacity(ctx, plan.levels, plan.window));
    } catch (err) {
      log(`${side}: ${(err as Error).message}`);
      r.error = (err as Error).message.split('\n')[0];
    } finally {
      await worker?.stop();
      // Kept for diagnosis (git-ignored *.log): the worker's and its job processes' output.
      if (worker) writeFileSync(join(dirname(args.out!), `${side}-worker.log`), worker.output);
      worker = undefined;
    }
  }
} finally {
  await cleanup();
}

// ---- figures --------------------------------------------------------------------------------------

const tOn = transport ? summarize(transport.onset).p50 : null;
const tOff = transport ? summarize(transport.offset).p50 : null;

interface Derived {
  /** The issue's definition, timed inside the agent's job process (agent-probe.ts) and on the Live socket. */
  workerUplink: number[];
  workerDownlink: number[];
  workerAdded: number[];
  uplink: number[];
  downlink: number[];
  agentAdded: number[];
  roundTripExModel: number[];
  roundTrip: number[];
  modelTime: number[];
  transportUp: number[];
  transportDown: number[];
  uplinkRaw: number[];
  downlinkRaw: number[];
}

function derive(turns: LatencyTurn[] | undefined): Derived | undefined {
  if (!turns?.length) return undefined;
  const d: Derived = {
    workerUplink: [],
    workerDownlink: [],
    workerAdded: [],
    uplink: [],
    downlink: [],
    agentAdded: [],
    roundTripExModel: [],
    roundTrip: [],
    modelTime: [],
    transportUp: [],
    transportDown: [],
    uplinkRaw: [],
    downlinkRaw: [],
  };
  for (const t of turns) {
    if (t.workerInEndAt !== undefined && t.workerOutAt !== undefined) {
      const up = t.liveInEndAt - t.workerInEndAt;
      const down = t.workerOutAt - t.liveOutAt;
      d.workerUplink.push(up);
      d.workerDownlink.push(down);
      d.workerAdded.push(up + down);
    }
    // This turn's own transport (listen-only probe in the same room); the separate probe as fallback.
    const tUp = t.transportOffsetMs ?? tOff;
    const tDown = t.transportOnsetMs ?? tOn;
    if (tUp === null || tDown === null) continue;
    d.transportUp.push(tUp);
    d.transportDown.push(tDown);
    const up = t.liveInEndAt - t.speechEndAt - tUp;
    const down = t.onsetAt - t.liveOutAt - tDown;
    const model = t.liveOutAt - t.liveInEndAt;
    d.uplinkRaw.push(t.liveInEndAt - t.speechEndAt);
    d.downlinkRaw.push(t.onsetAt - t.liveOutAt);
    d.uplink.push(up);
    d.downlink.push(down);
    d.agentAdded.push(up + down);
    d.modelTime.push(model);
    d.roundTrip.push(t.onsetAt - t.speechEndAt);
    d.roundTripExModel.push(t.onsetAt - t.speechEndAt - model);
  }
  return d;
}

interface Figure {
  unit: string;
  ours: Summary | null;
  reference: Summary | null;
  /** ours / reference of p95 (of p50 in `ratioP50`). */
  ratio: number | null;
  ratioP50: number | null;
  note?: string;
}

function figure(
  unit: string,
  ours: number[] | undefined,
  reference: number[] | undefined,
  note?: string,
): Figure {
  const o = ours?.length ? summarize(ours) : null;
  const r = reference?.length ? summarize(reference) : null;
  return {
    unit,
    ours: o,
    reference: r,
    ratio: ratio(o?.p95, r?.p95),
    ratioP50: ratio(o?.p50, r?.p50),
    ...(note ? { note } : {}),
  };
}

const dOurs = derive(results.ours?.latency);
const dRef = derive(results.reference?.latency);

function capacitySummary(c: CapacityResult | undefined) {
  if (!c) return null;
  // The figures of the busiest level that passed (the first level's if none did).
  const top = c.levels[Math.max(0, (c.passedLevels ?? 0) - 1)];
  const cpu = top?.cpuSecondsPerSessionMinute ?? null;
  return {
    maxSessions: c.maxSessions,
    stoppedBy: c.stoppedBy,
    cpuSecondsPerSessionMinute: cpu,
    /** Sessions one fully used core carries at that cost. */
    sessionsPerCore: cpu ? Math.round((60 / cpu) * 10) / 10 : null,
    rssPerSessionMiB: top?.rssPerSessionMiB ?? null,
    idleRssMiB: c.idleRssMiB,
    threadsPerSessionPct: top?.threadsPerSessionPct ?? null,
    levels: c.levels.map((l) => ({ ...l, roundTrip: summarize(l.roundTrip) })),
  };
}

function longSummary(l: LongSessionResult | undefined) {
  if (!l) return null;
  return { ...l, reconnectMs: summarize(l.reconnectMs), inputGapMs: summarize(l.inputGapMs) };
}

const capOurs = capacitySummary(results.ours?.capacity);
const capRef = capacitySummary(results.reference?.capacity);
const longOurs = longSummary(results.ours?.long);
const longRef = longSummary(results.reference?.long);

const report = {
  date: new Date().toISOString(),
  quick,
  plan,
  durationSeconds: Math.round((Date.now() - t0) / 1000),
  machine: {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadavgAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
  },
  errors: Object.fromEntries(Object.entries(results).map(([s, r]) => [s, r?.error ?? null])),
  transport: transport ? { onset: summarize(transport.onset), offset: summarize(transport.offset) } : null,
  agentAddedLatency: figure(
    'ms',
    dOurs?.workerAdded,
    dRef?.workerAdded,
    "last voiced user frame delivered to the agent's job process → that audio on the Live socket, plus first model audio on the socket → first voiced frame captured into the agent's AudioSource",
  ),
  agentAddedUplink: figure('ms', dOurs?.workerUplink, dRef?.workerUplink),
  agentAddedDownlink: figure('ms', dOurs?.workerDownlink, dRef?.workerDownlink),
  agentAddedLatencyRoom: figure(
    'ms',
    dOurs?.agentAdded,
    dRef?.agentAdded,
    'cross-check from outside the agent: uplink (user speech end → last voiced audio on the Live socket) + downlink (first model audio on the socket → first voiced frame at the user), each minus the one-way room transport of the same utterance; includes the native stream’s framing, resolution ±10 ms',
  ),
  agentAddedUplinkRoom: figure('ms', dOurs?.uplink, dRef?.uplink),
  agentAddedDownlinkRoom: figure('ms', dOurs?.downlink, dRef?.downlink),
  uplinkRaw: figure(
    'ms',
    dOurs?.uplinkRaw,
    dRef?.uplinkRaw,
    'user speech end → last voiced input on the Live socket, transport included (no subtraction)',
  ),
  downlinkRaw: figure(
    'ms',
    dOurs?.downlinkRaw,
    dRef?.downlinkRaw,
    'first model audio on the Live socket → first voiced agent frame at the user, transport included',
  ),
  transportDuringLatency: figure(
    'ms',
    dOurs?.transportUp,
    dRef?.transportUp,
    'one-way room transport of the same utterances to a listen-only probe in the room (subtracted per turn)',
  ),
  modelTime: figure(
    'ms',
    dOurs?.modelTime,
    dRef?.modelTime,
    'emulator: last voiced input on the socket → first audio out (500 ms VAD silence)',
  ),
  roomRoundTrip: figure(
    'ms',
    dOurs?.roundTripExModel,
    dRef?.roundTripExModel,
    'user speech end → first agent audio at the user, minus the model time seen on the Live socket',
  ),
  roundTripWithModel: figure(
    'ms',
    dOurs?.roundTrip,
    dRef?.roundTrip,
    'includes the emulated 500 ms VAD end-of-speech silence',
  ),
  bargeIn: figure(
    'ms',
    results.ours?.bargeIn?.map((b) => b.stopMs),
    results.reference?.bargeIn?.map((b) => b.stopMs),
    'user speech onset at the publisher → agent audio stops arriving at the user',
  ),
  bargeInAfterInterrupted: figure(
    'ms',
    results.ours?.bargeIn?.flatMap((b) => (b.afterInterruptMs === null ? [] : [b.afterInterruptMs])),
    results.reference?.bargeIn?.flatMap((b) => (b.afterInterruptMs === null ? [] : [b.afterInterruptMs])),
    '`interrupted` on the Live socket → agent audio stops arriving at the user',
  ),
  capacity: {
    ours: capOurs,
    reference: capRef,
    ratio: {
      maxSessions: ratio(capOurs?.maxSessions, capRef?.maxSessions),
      sessionsPerCore: ratio(capOurs?.sessionsPerCore, capRef?.sessionsPerCore),
      cpuSecondsPerSessionMinute: ratio(
        capOurs?.cpuSecondsPerSessionMinute,
        capRef?.cpuSecondsPerSessionMinute,
      ),
      rssPerSessionMiB: ratio(capOurs?.rssPerSessionMiB, capRef?.rssPerSessionMiB),
    },
  },
  longSession: {
    limits: LONG_LIMITS,
    ours: longOurs,
    reference: longRef,
    ratio: { inputGapP95: ratio(longOurs?.inputGapMs.p95, longRef?.inputGapMs.p95) },
  },
};

mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(args.out!, `${JSON.stringify(report, null, 2)}\n`);

// ---- table ----------------------------------------------------------------------------------------

const f = (x: number | null | undefined) => (x === null || x === undefined ? '—' : String(x));
const rows: string[][] = [['figure', 'ours p50', 'ours p95', 'ref p50', 'ref p95', 'ratio p95']];
const add = (name: string, fig: Figure) =>
  rows.push([
    name,
    f(fig.ours?.p50),
    f(fig.ours?.p95),
    f(fig.reference?.p50),
    f(fig.reference?.p95),
    f(fig.ratio),
  ]);
add('agent-added latency (ms)', report.agentAddedLatency);
add('  uplink (ms)', report.agentAddedUplink);
add('  downlink (ms)', report.agentAddedDownlink);
add('agent-added, seen from the room (ms)', report.agentAddedLatencyRoom);
add('  uplink − transport (ms)', report.agentAddedUplinkRoom);
add('  downlink − transport (ms)', report.agentAddedDownlinkRoom);
add('  uplink incl. transport (ms)', report.uplinkRaw);
add('  downlink incl. transport (ms)', report.downlinkRaw);
add('  (room transport one-way, ms)', report.transportDuringLatency);
add('room round trip excl. model (ms)', report.roomRoundTrip);
add('barge-in stop (ms)', report.bargeIn);
add('  after `interrupted` (ms)', report.bargeInAfterInterrupted);
add('long: reconnect input gap (ms)', {
  unit: 'ms',
  ours: longOurs?.inputGapMs ?? null,
  reference: longRef?.inputGapMs ?? null,
  ratio: report.longSession.ratio.inputGapP95,
  ratioP50: null,
});
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
const line = (r: string[]) =>
  r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
const out: string[] = [line(rows[0]!), ...rows.slice(1).map(line)];
out.push('');
out.push(`transport one-way: onset p50 ${f(tOn)} ms, offset p50 ${f(tOff)} ms`);
for (const [name, c] of [
  ['ours', capOurs],
  ['reference', capRef],
] as const) {
  if (!c) continue;
  out.push(
    `capacity ${name}: ${c.maxSessions} sessions (${c.stoppedBy}); ${f(c.cpuSecondsPerSessionMinute)} CPU-s/session-min = ${f(c.sessionsPerCore)} sessions/core; ${f(c.rssPerSessionMiB)} MiB RSS/session`,
  );
  const threads = Object.entries(c.threadsPerSessionPct ?? {}).slice(0, 8);
  if (threads.length)
    out.push(`  by thread, % of a core per session: ${threads.map(([t, v]) => `${t} ${v}`).join(', ')}`);
}
for (const [name, l] of [
  ['ours', longOurs],
  ['reference', longRef],
] as const) {
  if (!l) continue;
  out.push(
    `long session ${name}: ${l.realSeconds} s, ${l.goAways} goAways, ${l.connections} sockets, input lost ${l.voicedLostSeconds} s (${l.utterancesLost}/${l.utterances} utterances; session total ${l.voicedLostTotalSeconds} s), reconnect p95 ${f(l.reconnectMs.p95)} ms, alive at end: ${l.aliveAtEnd}`,
  );
}
for (const [s, e] of Object.entries(report.errors)) if (e) out.push(`${s}: ERROR ${e}`);
out.push(`wrote ${args.out} (${report.durationSeconds} s)`);
process.stdout.write(`${out.join('\n')}\n`);
process.exit(0);
