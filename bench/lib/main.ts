/**
 * `npm run bench` — our agent and LiveKit's reference Gemini plugin, side by side, against the same
 * Gemini emulator, LiveKit dev server and input audio. Prints a table and writes
 * `bench/results/latest.json`.
 *
 *   node bench/run.ts [--quick] [--sides ours,reference] [--only transport,latency,bargein,long,capacity]
 *                     [--model NAME | --model ours=NAME,reference=NAME]
 *                     [--levels 1,5,10] [--cpu-level N] [--repeat N] [--generators N]
 *                     [--turns N] [--barge-ins N] [--long-seconds S] [--window S] [--out FILE]
 *
 * `--quick` is the ≤ 3 minute version (fewer turns, shorter long session, two capacity levels).
 * `--model` is the Live model both sides ask for (GEMINI_MODEL), the catalogue's default unless given.
 * `--repeat N` runs the capacity phase N times per side (sides alternating, a fresh worker each time)
 * and reports the median and min–max of each capacity figure. `--generators N` runs the simulated
 * users in N processes of their own (0: in the bench process). `--cpu-level N` is the level whose CPU
 * and memory per session are reported.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_LIVE_MODEL } from '../../shared/gemini-models/index.ts';
import { type CapacityResult, runCapacity } from './capacity.ts';
import { capacityLines, summarizeCapacity } from './capacity-report.ts';
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
  type LatencyTurn,
  type LongSessionResult,
  measureTransport,
  type PhaseContext,
  runBargeIn,
  runLatency,
  runLongSession,
  type TransportResult,
} from './phases.ts';
import { ratio, type Spread, type Summary, summarize } from './stats.ts';
import { LiveTap } from './tap.ts';

const PHASES = ['transport', 'latency', 'bargein', 'long', 'capacity'] as const;
type Phase = (typeof PHASES)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sides: { type: 'string', default: 'reference,ours' },
    only: { type: 'string', default: PHASES.join(',') },
    levels: { type: 'string' },
    model: { type: 'string', default: DEFAULT_LIVE_MODEL },
    repeat: { type: 'string', default: '1' },
    generators: { type: 'string', default: '2' },
    'cpu-level': { type: 'string' },
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

/** `--model NAME` for both sides, or `ours=NAME,reference=NAME` (a side not named gets the default). */
function models(spec: string): Record<Side, string> {
  if (!spec.includes('=')) return { ours: spec, reference: spec };
  const out: Record<Side, string> = { ours: DEFAULT_LIVE_MODEL, reference: DEFAULT_LIVE_MODEL };
  for (const part of spec.split(',')) {
    const [side, name] = part.split('=').map((x) => x.trim());
    if (!side || !(side in SIDES) || !name) throw new Error(`--model: expected side=name, got ${part}`);
    out[side as Side] = name;
  }
  return out;
}

const plan = quick
  ? {
      probe: 0,
      turns: 6,
      bargeIns: 4,
      longSeconds: 10,
      levels: [1, 2],
      cpuLevel: 2,
      window: 5,
      repeat: 1,
      generators: 2,
      models: models(args.model!),
    }
  : {
      probe: 30,
      turns: 30,
      bargeIns: 20,
      longSeconds: 90,
      levels: [1, 4, 8, 12, 16, 24, 32, 50],
      cpuLevel: 4,
      window: 25,
      repeat: 1,
      generators: 2,
      models: models(args.model!),
    };
if (args.levels) plan.levels = args.levels.split(',').map(Number);
if (args['cpu-level']) plan.cpuLevel = Number(args['cpu-level']);
else if (!plan.levels.includes(plan.cpuLevel)) plan.cpuLevel = plan.levels.at(-1)!;
plan.repeat = Math.max(1, Number(args.repeat));
plan.generators = Math.max(0, Number(args.generators));
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
  /** One per `--repeat` round. */
  capacity: CapacityResult[];
  /** Models the agent asked for on its Live sockets, and refusals the emulator closed with. */
  modelsSeen: Set<string>;
  refusals: Set<string>;
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

const loadavgAtStart = os.loadavg().map((l) => Math.round(l * 100) / 100);
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

  for (const side of sides) results[side] = { capacity: [], modelsSeen: new Set(), refusals: new Set() };
  const logs = new Set<Side>();
  /** One worker for `phases` of `side`, then its log kept (git-ignored *.log) and its Live sockets read. */
  const withWorker = async (side: Side, phases: (ctx: PhaseContext) => Promise<void>) => {
    const r = results[side]!;
    const tapFrom = tap!.connections.length;
    try {
      log(`${side}: starting worker (${SIDES[side].entry}, ${plan.models[side]})`);
      const probeDir = mkdtempSync(join(os.tmpdir(), `bench-probe-${side}-`));
      probeDirs.push(probeDir);
      worker = await startWorker(side, {
        livekit,
        geminiUrl: tap!.url,
        probeDir,
        env: { GEMINI_MODEL: plan.models[side] },
      });
      await phases({
        side,
        probeDir,
        agentName: SIDES[side].agentName,
        model: plan.models[side],
        livekit,
        tap: tap!,
        worker,
        devServer: devServer!,
        log,
      });
    } catch (err) {
      log(`${side}: ${(err as Error).message}`);
      r.error = (err as Error).message.split('\n')[0];
    } finally {
      await worker?.stop();
      const file = join(dirname(args.out!), `${side}-worker.log`);
      if (worker) (logs.has(side) ? appendFileSync : writeFileSync)(file, worker.output);
      logs.add(side);
      worker = undefined;
      for (const c of tap!.connections.slice(tapFrom)) {
        if (c.model) r.modelsSeen.add(c.model);
        // 1007: a setting the model refuses; 1008 only for the model name (an expired resumption handle
        // from an earlier phase's emulator is 1008 too, and not a refusal of the side's setup).
        const refused = c.closeCode === 1007 || (c.closeCode === 1008 && /model/i.test(c.closeReason ?? ''));
        if (refused) r.refusals.add(`${c.closeCode} ${c.closeReason ?? ''}`);
      }
    }
  };
  const phase = async <T>(side: Side, name: Phase, f: () => Promise<T>): Promise<T | undefined> => {
    if (!only.has(name)) return undefined;
    const r = results[side]!;
    log(`${side}: ${name}`);
    try {
      return await f();
    } catch (err) {
      log(`${side}: ${name} failed: ${(err as Error).message}`);
      r.error = `${r.error ? `${r.error}; ` : ''}${name}: ${(err as Error).message.split('\n')[0]}`;
      return undefined;
    }
  };

  const others = (['latency', 'bargein', 'long'] as const).some((p) => only.has(p));
  for (const side of others ? sides : []) {
    const r = results[side]!;
    await withWorker(side, async (ctx) => {
      r.latency = await phase(side, 'latency', () => runLatency(ctx, plan.turns));
      r.bargeIn = await phase(side, 'bargein', () => runBargeIn(ctx, plan.bargeIns));
      r.long = await phase(side, 'long', () => runLongSession(ctx, plan.longSeconds, LONG_LIMITS));
    });
  }
  // Capacity: a fresh worker per side and round, the sides' order alternating between rounds so that
  // a drift of the machine's load does not always fall on the same side.
  for (let round = 0; only.has('capacity') && round < plan.repeat; round++) {
    for (const side of round % 2 ? [...sides].reverse() : sides) {
      await withWorker(side, async (ctx) => {
        log(`${side}: capacity round ${round + 1}/${plan.repeat}`);
        const c = await phase(side, 'capacity', () =>
          runCapacity(ctx, {
            levels: plan.levels,
            windowSeconds: plan.window,
            cpuLevel: plan.cpuLevel,
            generators: plan.generators,
          }),
        );
        if (c) results[side]!.capacity.push(c);
      });
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

function longSummary(l: LongSessionResult | undefined) {
  if (!l) return null;
  return { ...l, reconnectMs: summarize(l.reconnectMs), inputGapMs: summarize(l.inputGapMs) };
}

const capOurs = summarizeCapacity(results.ours?.capacity ?? [], plan.cpuLevel);
const capRef = summarizeCapacity(results.reference?.capacity ?? [], plan.cpuLevel);
const med = (x: Spread | undefined) => x?.median;
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
  loadavgAtStart,
  errors: Object.fromEntries(Object.entries(results).map(([s, r]) => [s, r?.error ?? null])),
  /** Per side: the model asked for, the models seen in the agents' setup messages, refusals (1007/1008). */
  models: Object.fromEntries(
    Object.entries(results).map(([side, r]) => [
      side,
      {
        asked: plan.models[side as Side],
        seen: [...(r?.modelsSeen ?? [])],
        refusals: [...(r?.refusals ?? [])],
      },
    ]),
  ),
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
    /** Of the medians. */
    ratio: {
      maxSessions: ratio(med(capOurs?.maxSessions), med(capRef?.maxSessions)),
      sessionsPerCore: ratio(med(capOurs?.sessionsPerCore), med(capRef?.sessionsPerCore)),
      cpuSecondsPerSessionMinute: ratio(
        med(capOurs?.cpuSecondsPerSessionMinute),
        med(capRef?.cpuSecondsPerSessionMinute),
      ),
      rssPerSessionMiB: ratio(med(capOurs?.rssPerSessionMiB), med(capRef?.rssPerSessionMiB)),
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
] as const)
  if (c) out.push(...capacityLines(name, c));
for (const [name, l] of [
  ['ours', longOurs],
  ['reference', longRef],
] as const) {
  if (!l) continue;
  out.push(
    `long session ${name}: ${l.realSeconds} s, ${l.goAways} goAways, ${l.connections} sockets, input lost ${l.voicedLostSeconds} s (${l.utterancesLost}/${l.utterances} utterances; session total ${l.voicedLostTotalSeconds} s), reconnect p95 ${f(l.reconnectMs.p95)} ms, alive at end: ${l.aliveAtEnd}`,
  );
}
for (const [s, m] of Object.entries(report.models))
  out.push(
    `${s}: model ${m.asked} (setup sent: ${m.seen.join(', ') || '—'})${m.refusals.length ? `; refused: ${m.refusals.join('; ')}` : ''}`,
  );
for (const [s, e] of Object.entries(report.errors)) if (e) out.push(`${s}: ERROR ${e}`);
out.push(`wrote ${args.out} (${report.durationSeconds} s)`);
process.stdout.write(`${out.join('\n')}\n`);
process.exit(0);
