/**
 * The measurements, one function per figure. Each runs against one side's worker (already started and
 * pointed at the tap) and returns raw samples; run.ts summarises and compares.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type GeminiEmulator,
  type GeminiEmulatorOptions,
  start as startGemini,
} from '../../emulators/gemini-live/index.ts';
import type { Child, LiveKitEndpoint, Side } from './children.ts';
import { now } from './stats.ts';
import type { LiveTap, TapConnection } from './tap.ts';
import { BenchUser, type RemoteBurst, type Utterance } from './user.ts';

export interface PhaseContext {
  side: Side;
  agentName: string;
  /** The Live model the side's agent asks for (GEMINI_MODEL); the emulator accepts it even if unknown. */
  model: string;
  livekit: LiveKitEndpoint;
  tap: LiveTap;
  worker: Child;
  devServer: Child;
  /** Where the worker's `agent-probe.ts` writes (see there). */
  probeDir?: string;
  log: (line: string) => void;
}

/** ~0.06 s of synthetic speech per character (the emulator's `say`). */
export const SHORT_REPLY = 'This is my reply.'; // ≈ 1.0 s
export const LONG_REPLY = 'This is a much longer reply that keeps going for several seconds.'; // ≈ 3.9 s

/** Starts an emulator for a phase and points the tap at it. */
export async function phaseEmulator(ctx: PhaseContext, o: GeminiEmulatorOptions): Promise<GeminiEmulator> {
  const emulator = await startGemini({ ...o, models: [ctx.model] });
  ctx.tap.retarget(emulator.url);
  return emulator;
}

export function sayLoop(text: string): GeminiEmulatorOptions['scenario'] {
  return { turns: [{ steps: [{ say: text }] }], loop: true };
}

let roomSeq = 0;
export function roomName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${roomSeq++}`;
}

/**
 * Joins a user with the side's agent dispatched, and waits for the agent's Live socket and audio. On a
 * loaded machine a job process sometimes fails to start (agents' "runner initialization timed out"):
 * then the user leaves and tries once more in a fresh room.
 */
export async function joinWithAgent(
  ctx: PhaseContext,
  prefix: string,
  since = now(),
  timeoutMs = 60_000,
): Promise<{ user: BenchUser; conn: () => TapConnection | undefined }> {
  try {
    return await joinOnce(ctx, prefix, since, timeoutMs);
  } catch (err) {
    ctx.log(`${(err as Error).message}; retrying in a new room`);
    return await joinOnce(ctx, prefix, now(), timeoutMs);
  }
}

async function joinOnce(
  ctx: PhaseContext,
  prefix: string,
  since = now(),
  timeoutMs = 60_000,
): Promise<{ user: BenchUser; conn: () => TapConnection | undefined }> {
  const user = new BenchUser({
    livekit: ctx.livekit,
    room: roomName(`${prefix}-${ctx.side}`),
    identity: 'user',
    agentName: ctx.agentName,
  });
  await user.connect();
  const deadline = Date.now() + timeoutMs;
  const conn = () => ctx.tap.since(since).find((c) => c.readyAt !== undefined);
  while (!(conn() && user.hasRemoteAudio())) {
    if (Date.now() > deadline) {
      await user.close();
      throw new Error(
        `${ctx.side}: agent did not join/connect within ${timeoutMs} ms (live socket: ${Boolean(conn())}, audio track: ${user.hasRemoteAudio()})`,
      );
    }
    await sleep(50);
  }
  return { user, conn };
}

// ---- transport ------------------------------------------------------------------------------------

export interface TransportResult {
  /** Publisher's first voiced frame → subscriber's first voiced frame, ms. */
  onset: number[];
  /** Publisher's end of speech → subscriber's end of voice, ms. */
  offset: number[];
}

/** One-way room transport (publisher → SFU → subscriber, Opus both ways), no agent involved. */
export async function measureTransport(livekit: LiveKitEndpoint, n: number): Promise<TransportResult> {
  const room = roomName('probe');
  const pub = new BenchUser({ livekit, room, identity: 'probe-pub' });
  const sub = new BenchUser({ livekit, room, identity: 'probe-sub' });
  const out: TransportResult = { onset: [], offset: [] };
  try {
    await sub.connect();
    await pub.connect();
    const deadline = Date.now() + 30_000;
    while (!sub.hasRemoteAudio()) {
      if (Date.now() > deadline) throw new Error('transport probe: no subscription');
      await sleep(50);
    }
    await pub.pause(0.5);
    for (let i = 0; i < n + 2; i++) {
      const u = await pub.say(0.3, i + 1);
      const b = await sub.nextOnset(u.startAt - 5, 5000);
      await sub.ended(b, 5000);
      if (i >= 2) {
        // two warm-up utterances (jitter buffer settling)
        out.onset.push(b.onsetAt - u.startAt);
        out.offset.push(b.offsetAt! - u.endAt);
      }
      await pub.pause(0.25);
    }
  } finally {
    await pub.close();
    await sub.close();
  }
  return out;
}

// ---- latency --------------------------------------------------------------------------------------

export interface LatencyTurn {
  /** User's end of speech (publisher side). */
  speechEndAt: number;
  /**
   * One-way room transport of this very utterance to a listen-only probe in the same room (what the
   * worker's copy of the track goes through too): onset and end of speech, ms.
   */
  transportOnsetMs?: number;
  transportOffsetMs?: number;
  /** Last voiced input audio forwarded on the Live socket. */
  liveInEndAt: number;
  /** First model audio forwarded to the agent. */
  liveOutAt: number;
  /** First voiced agent audio at the user. */
  onsetAt: number;
  /** In the agent's job process (agent-probe.ts): last voiced input frame the native stream delivered. */
  workerInEndAt?: number;
  /** In the agent's job process: first voiced frame of the reply captured into its AudioSource. */
  workerOutAt?: number;
}

/** Voiced stretches the worker's in-process probe wrote (agent-probe.ts). */
export function readProbe(dir: string | undefined): { dir: 'in' | 'out'; start: number; end?: number }[] {
  if (!dir) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
}

function allAudioIn(conns: TapConnection[]) {
  return conns.flatMap((c) => c.audioIn).sort((a, b) => a.at - b.at);
}

/** `turns` user utterances, each answered by a ~1 s reply; timestamps at the user and on the Live socket. */
export async function runLatency(ctx: PhaseContext, turns: number): Promise<LatencyTurn[]> {
  const emulator = await phaseEmulator(ctx, { scenario: sayLoop(SHORT_REPLY), pacing: 'realtime' });
  const since = now();
  const { user } = await joinWithAgent(ctx, 'latency', since);
  const probe = new BenchUser({
    livekit: ctx.livekit,
    room: user.roomName,
    identity: 'probe',
    listenTo: 'user',
  });
  await probe.connect();
  const raw: { u: Utterance; b: RemoteBurst }[] = [];
  try {
    await user.pause(1.0);
    for (let i = 0; i < turns; i++) {
      const u = await user.say(0.6, i + 1);
      const b = await user.nextOnset(u.endAt, 15_000);
      await user.ended(b, 15_000);
      raw.push({ u, b });
      await user.pause(0.3 + 0.2 * Math.random());
    }
  } finally {
    await probe.close();
    await user.close();
    await emulator.close();
  }
  const conns = ctx.tap.since(since);
  const chunks = allAudioIn(conns);
  const outs = conns.flatMap((c) => c.firstAudioOut).sort((a, b) => a - b);
  const probed = readProbe(ctx.probeDir);
  const result: LatencyTurn[] = [];
  for (const { u, b } of raw) {
    const voiced = chunks.filter((c) => c.voicedToMs !== undefined && c.at >= u.startAt && c.at <= b.onsetAt);
    const last = voiced.at(-1);
    if (!last) continue;
    const out = outs.find((t) => t >= last.at && t <= b.onsetAt);
    if (out === undefined) continue;
    const p = probe.bursts.find((x) => x.onsetAt >= u.startAt && x.onsetAt <= u.endAt + 1000);
    const inEnds = probed.flatMap((r) =>
      r.dir === 'in' && r.end !== undefined && r.end >= u.startAt && r.end <= last.at ? [r.end] : [],
    );
    const outStarts = probed.flatMap((r) =>
      r.dir === 'out' && r.start >= out && r.start <= b.onsetAt ? [r.start] : [],
    );
    result.push({
      ...(inEnds.length && { workerInEndAt: Math.max(...inEnds) }),
      ...(outStarts.length && { workerOutAt: Math.min(...outStarts) }),
      speechEndAt: u.endAt,
      liveInEndAt: last.at,
      liveOutAt: out,
      onsetAt: b.onsetAt,
      ...(p?.offsetAt !== undefined && {
        transportOnsetMs: p.onsetAt - u.startAt,
        transportOffsetMs: p.offsetAt - u.endAt,
      }),
    });
  }
  const withTransport = result.filter((r) => r.transportOnsetMs !== undefined).length;
  const inWorker = result.filter((r) => r.workerInEndAt !== undefined && r.workerOutAt !== undefined).length;
  ctx.log(
    `${ctx.side}: latency ${result.length}/${turns} turns matched, ${inWorker} timed in the worker, ${withTransport} with in-room transport (probe heard ${probe.bursts.length} utterances, ${probe.remoteFrames} frames)`,
  );
  return result;
}

// ---- barge-in -------------------------------------------------------------------------------------

export interface BargeInSample {
  /** User's barge-in onset (publisher) → agent audio stopped arriving at the user. */
  stopMs: number;
  /** The model's `interrupted` forwarded to the agent → agent audio stopped at the user. */
  afterInterruptMs: number | null;
  /** Agent audio that still arrived after the barge-in began, ms of voice. */
}

export async function runBargeIn(ctx: PhaseContext, n: number): Promise<BargeInSample[]> {
  const emulator = await phaseEmulator(ctx, { scenario: sayLoop(LONG_REPLY), pacing: 'realtime' });
  const since = now();
  const { user } = await joinWithAgent(ctx, 'bargein', since);
  const out: BargeInSample[] = [];
  let misses = 0;
  try {
    await user.pause(1.0);
    // Warm-up: one reply heard to the end. The reference framework discards user audio while the agent
    // speaks during its first 3 s of speech (AgentSession `aecWarmupDuration`, default 3000 ms).
    let prev = await user.say(0.6, 1);
    const warm = await user.nextOnset(prev.endAt, 15_000);
    await user.ended(warm, 15_000);
    await user.pause(0.3);
    prev = await user.say(0.6, 2);
    for (let i = 0; i < n && misses < 5; i++) {
      let b: RemoteBurst;
      try {
        b = await user.nextOnset(prev.endAt, 10_000);
      } catch {
        misses++;
        prev = await user.say(0.6, i + 3);
        continue;
      }
      await sleep(Math.max(0, b.onsetAt + 400 + 200 * Math.random() - now()));
      const u = await user.say(0.6, i + 3);
      await user.ended(b, 15_000);
      prev = u;
      if (b.offsetAt! < u.startAt) {
        misses++; // the reply ended before the barge-in began
        continue;
      }
      const interrupts = ctx.tap
        .since(since)
        .flatMap((c) => c.interrupted)
        .filter((t) => t >= u.startAt && t <= b.offsetAt!);
      out.push({
        stopMs: b.offsetAt! - u.startAt,
        afterInterruptMs: interrupts.length ? b.offsetAt! - interrupts[0]! : null,
      });
    }
  } finally {
    await user.close();
    await emulator.close();
  }
  ctx.log(`${ctx.side}: barge-in ${out.length}/${n} samples, ${misses} misses`);
  return out;
}

// ---- long session ---------------------------------------------------------------------------------

export interface LongSessionResult {
  realSeconds: number;
  connections: number;
  goAways: number;
  utterances: number;
  /** Utterances of which < 90 % of the voice reached the model. */
  utterancesLost: number;
  voicedSentSeconds: number;
  voicedLostSeconds: number;
  /** Published voice − voice that reached the model, whole session (replays count twice). */
  voicedLostTotalSeconds: number;
  /** Per goAway: goAway forwarded → the next socket's setupComplete, ms. */
  reconnectMs: number[];
  /** Per goAway: longest pause in input audio reaching the model around the switch, ms. */
  inputGapMs: number[];
  /** The agent's session was still answering at the end. */
  aliveAtEnd: boolean;
}

export async function runLongSession(
  ctx: PhaseContext,
  seconds: number,
  limits: { connectionLifetimeMs: number; goAwayNoticeMs: number },
): Promise<LongSessionResult> {
  const emulator = await phaseEmulator(ctx, {
    scenario: sayLoop('Okay.'), // 0.4 s answers at 4× speed: the session stays busy but short turns
    pacing: 4,
    limits,
  });
  const since = now();
  const { user } = await joinWithAgent(ctx, 'long', since);
  const utterances: Utterance[] = [];
  const started = now();
  let aliveAtEnd = false;
  try {
    await user.pause(0.5);
    let i = 0;
    while (now() - started < seconds * 1000) {
      utterances.push(await user.say(0.5, ++i));
      await user.pause(0.9);
    }
    // Is the agent still answering? One more turn, waiting for a reply.
    const u = await user.say(0.5, ++i);
    utterances.push(u);
    aliveAtEnd = await user.nextOnset(u.endAt, 8000).then(
      () => true,
      () => false,
    );
    await sleep(1500);
  } finally {
    await user.close();
    await emulator.close();
  }
  const conns = ctx.tap.since(since);
  const chunks = allAudioIn(conns);
  let lost = 0;
  let lostSeconds = 0;
  let sent = 0;
  for (const [k, u] of utterances.entries()) {
    const next = utterances[k + 1]?.startAt ?? Number.POSITIVE_INFINITY;
    const voicedMs = chunks
      .filter((c) => c.at >= u.startAt && c.at < Math.min(next, u.endAt + 5000))
      .reduce((a, c) => a + c.voicedMs, 0);
    const got = Math.min(voicedMs, u.durationMs);
    sent += got / 1000;
    lostSeconds += (u.durationMs - got) / 1000;
    if (got < 0.9 * u.durationMs) lost++;
  }
  // Totals as a cross-check: per-utterance windows misattribute audio when transport exceeds the
  // 1.4 s talk cycle (loaded machine); replayed audio counts twice here, so this one can hide losses.
  const publishedMs = utterances.reduce((a, u) => a + u.durationMs, 0);
  const receivedMs = chunks
    .filter((c) => c.at >= (utterances[0]?.startAt ?? 0))
    .reduce((a, c) => a + c.voicedMs, 0);
  const goAways = conns.flatMap((c) => c.goAways).sort((a, b) => a - b);
  const readies = conns.map((c) => c.readyAt).filter((t): t is number => t !== undefined);
  const reconnectMs: number[] = [];
  const inputGapMs: number[] = [];
  const end = utterances.at(-1)?.endAt ?? now();
  for (const g of goAways) {
    const ready = readies.filter((t) => t > g).sort((a, b) => a - b)[0];
    if (ready !== undefined) reconnectMs.push(ready - g);
    if (g > end - 3000) continue;
    // Longest silence in the audio flow to the model from the goAway until 2 s after the new socket.
    const until = (ready ?? g) + 2000;
    const times = chunks.filter((c) => c.at >= g - 100 && c.at <= until).map((c) => c.at);
    let gap = times.length ? 0 : until - g;
    for (let j = 1; j < times.length; j++) gap = Math.max(gap, times[j]! - times[j - 1]!);
    inputGapMs.push(gap);
  }
  return {
    realSeconds: Math.round((now() - started) / 1000),
    connections: conns.length,
    goAways: goAways.length,
    utterances: utterances.length,
    utterancesLost: lost,
    voicedSentSeconds: Math.round(sent * 100) / 100,
    voicedLostSeconds: Math.round(lostSeconds * 100) / 100,
    voicedLostTotalSeconds: Math.round(Math.max(0, publishedMs - receivedMs) / 10) / 100,
    reconnectMs,
    inputGapMs,
    aliveAtEnd,
  };
}
