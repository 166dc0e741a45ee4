/**
 * Issue #16's figures: what a user hears when the process holding the conversation goes away. One
 * repetition of one case: a user talks in turns with a side's agent (two workers of that side
 * registered), the event happens while the agent is answering, and the user keeps talking — an
 * utterance of 0.8 s every 3 s, as someone who asks "hello?" into silence — until an agent answers or the
 * bound passes.
 *
 * - `job`: kill -9 of the job process that holds the conversation (its worker lives);
 * - `worker`: kill -9 of that job's worker and its job processes (the process group);
 * - `drain`: SIGTERM of that worker (a drain; ours runs with `AGENT_DRAIN_MODE=handoff`).
 *
 * The job process is found through the in-process probe (`agent-probe.ts`): the live process whose probe
 * file recorded the reply's start. That works the same for both sides.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { start as startGemini } from '../../emulators/gemini-live/index.ts';
import type { Child, LiveKitEndpoint, Side } from './children.ts';
import { LONG_REPLY, roomName, sayLoop } from './phases.ts';
import { now } from './stats.ts';
import type { LiveTap } from './tap.ts';
import { BenchUser, type RemoteBurst, type Utterance } from './user.ts';

export const CASES = ['job', 'worker', 'drain'] as const;
export type RecoveryCase = (typeof CASES)[number];

/** A worker of the side and where its probe writes. */
export interface BenchWorker {
  child: Child;
  probeDir: string;
}

export interface RecoveryContext {
  side: Side;
  agentName: string;
  model: string;
  livekit: LiveKitEndpoint;
  tap: LiveTap;
  /** The side's two workers; the case kills or drains the one holding the conversation. */
  workers: BenchWorker[];
  /** How long the user waits for an agent to come back, s. */
  boundS: number;
  log: (line: string) => void;
}

export interface RecoverySample {
  side: Side;
  case: RecoveryCase;
  /** An agent answered within the bound. */
  cameBack: boolean;
  /** Last agent audio before the event (the reply it cut, or finished) → first agent audio after, ms. */
  gapMs: number | null;
  /** Event → last agent audio of the reply in progress (0 for a kill: cut at once; a drain may finish it). */
  tailMs: number;
  /** Utterances the user said after the event, up to the one answered (or until the bound). */
  utterances: number;
  /** Of those, utterances whose voice did not reach a Live socket (< half of it arrived). */
  utterancesLost: number;
  /** Seconds of the user's voice after the event that never reached a Live socket. */
  voicedLostS: number;
  /**
   * `resumed`: a Live session opened after the event continued the conversation's session (resumption
   * handle, the model remembers); `fresh`: only new sessions; `same`: the agent never left (same socket).
   */
  model: 'resumed' | 'fresh' | 'same' | null;
  /** The answer came from the agent that was there before. */
  sameAgent: boolean | null;
  /**
   * Agent audio heard after the event that answered nothing: any burst of the killed agent (kill cases),
   * which can only be its audio still in transit (the dev server or the user's receive path running
   * late), and (drain) any burst that began before the first utterance since the event ended. After a
   * kill, a new agent speaking that early answers the question the kill cut (the checkpoint's catch-up,
   * docs/recovery.md): not stray.
   */
  stray: string[];
}

/**
 * The live process (and its worker) whose probe saw agent speech start closest before `heardAt` (the
 * user's onset of the reply): another room's agent of an earlier repetition may still be running.
 */
function holder(workers: BenchWorker[], heardAt: number): { w: BenchWorker; pid: number } | undefined {
  const since = heardAt - 3000;
  let best: { w: BenchWorker; pid: number; at: number } | undefined;
  for (const w of workers) {
    for (const f of readdirSync(w.probeDir)) {
      const pid = Number(f.replace(/\.jsonl$/, ''));
      if (!Number.isInteger(pid) || !alive(pid)) continue;
      const lines = readFileSync(join(w.probeDir, f), 'utf8').split('\n').filter(Boolean);
      for (const l of lines) {
        const e = JSON.parse(l) as { dir: string; start: number };
        const fits = e.dir === 'out' && e.start >= since && e.start <= heardAt;
        if (fits && (!best || e.start > best.at)) best = { w, pid, at: e.start };
      }
    }
  }
  return best;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for `f` to hold, polling, up to `ms`. */
async function poll(f: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

/** One repetition of `kind` for the context's side. */
export async function runRecoveryCase(ctx: RecoveryContext, kind: RecoveryCase): Promise<RecoverySample> {
  const emulator = await startGemini({
    scenario: sayLoop(LONG_REPLY),
    pacing: 'realtime',
    models: [ctx.model],
  });
  ctx.tap.retarget(emulator.url);
  const room = roomName(`recovery-${kind}-${ctx.side}`);
  const rooms = new RoomServiceClient(ctx.livekit.url, ctx.livekit.apiKey, ctx.livekit.apiSecret);
  const user = new BenchUser({ livekit: ctx.livekit, room, identity: 'user' });
  const since = now();
  try {
    await user.connect();
    // Explicit dispatch, as a deployment's backend makes it (the recovery poll lists dispatches).
    await new AgentDispatchClient(ctx.livekit.url, ctx.livekit.apiKey, ctx.livekit.apiSecret).createDispatch(
      room,
      ctx.agentName,
    );
    const ready = await poll(
      () => user.hasRemoteAudio() && ctx.tap.since(since).some((c) => c.readyAt !== undefined),
      60_000,
    );
    if (!ready) throw new Error(`${ctx.side}: agent did not join within 60 s`);
    await user.pause(1.0);
    // One full turn, then the event 1 s into the second reply (≈ 3.9 s long).
    const u1 = await user.say(0.8, 1);
    await user.ended(await user.nextOnset(u1.endAt, 30_000), 30_000);
    await user.pause(0.5);
    const u2 = await user.say(0.8, 2);
    const cut = await user.nextOnset(u2.endAt, 30_000);
    await sleep(1000);
    const h = holder(ctx.workers, cut.onsetAt);
    if (!h) throw new Error(`${ctx.side}: no job process found speaking`);
    const eventAt = now();
    if (kind === 'job') process.kill(h.pid, 'SIGKILL');
    else if (kind === 'worker') process.kill(-h.w.child.pid, 'SIGKILL');
    else process.kill(h.w.child.pid, 'SIGTERM');
    ctx.log(`${ctx.side} ${kind}: event (job process ${h.pid}, worker ${h.w.child.pid})`);
    // A drained agent may finish its reply: the user lets it. After a kill the user speaks at once.
    if (kind === 'drain') await user.ended(cut, 30_000).catch(() => {});
    const deadline = eventAt + ctx.boundS * 1000;
    const said: Utterance[] = [];
    let answer: RemoteBurst | undefined;
    // A killed agent answers nothing: what the user still hears of it is audio that was in transit.
    const dead = kind === 'drain' ? undefined : cut.participant;
    for (let seed = 3; !answer && now() < deadline; seed++) {
      said.push(await user.say(0.8, seed));
      // An answer: agent audio that starts after the first utterance said since the event ended.
      answer = await user
        .nextOnset(said[0]!.endAt, Math.max(0, Math.min(2200, deadline - now())), dead)
        .catch(() => undefined);
    }
    // A killed agent's track may stop delivering frames at all: then its last voiced frame is the end.
    const lastAudio = cut.offsetAt ?? cut.lastVoicedAt;
    if (answer) await user.ended(answer, 15_000).catch(() => {});
    await sleep(300);
    // Input lost: of each utterance after the event, the voice that reached any Live socket between
    // its start and the next one's (an agent may send buffered input late, after reconnecting).
    const chunks = ctx.tap
      .since(since)
      .flatMap((c) => c.audioIn)
      .filter((a) => a.voicedMs > 0);
    let lost = 0;
    let voicedLost = 0;
    said.forEach((u, i) => {
      const until = said[i + 1]?.startAt ?? now();
      const got = chunks.filter((a) => a.at >= u.startAt && a.at < until).reduce((s, a) => s + a.voicedMs, 0);
      const missing = Math.max(0, u.durationMs - got);
      voicedLost += missing;
      if (got < u.durationMs / 2) lost++;
    });
    const stats = emulator.stats();
    const before = new Set(stats.filter((s) => s.openedAt < eventAt && s.turns > 0).map((s) => s.sessionId));
    const after = stats.filter((s) => s.openedAt > eventAt);
    const sameAgent = answer ? answer.participant === cut.participant : null;
    const model = !answer
      ? null
      : sameAgent && after.length === 0
        ? 'same'
        : after.some((s) => s.resumed && before.has(s.sessionId))
          ? 'resumed'
          : 'fresh';
    return {
      side: ctx.side,
      case: kind,
      cameBack: answer !== undefined,
      gapMs: answer ? Math.round(answer.onsetAt - lastAudio) : null,
      tailMs: Math.max(0, Math.round(lastAudio - eventAt)),
      utterances: said.length,
      utterancesLost: lost,
      voicedLostS: Math.round(voicedLost / 100) / 10,
      model,
      sameAgent,
      stray: user.bursts
        .filter(
          (b) => b.onsetAt > cut.onsetAt && (dead ? b.participant === dead : b.onsetAt <= said[0]!.endAt),
        )
        .map(
          (b) =>
            `${b.participant === dead ? 'killed agent (in transit)' : b.participant} +${Math.round(b.onsetAt - lastAudio)} ms`,
        ),
    };
  } catch (err) {
    const st = emulator.stats().map((x) => `${x.id}: ${x.audioInSeconds.toFixed(1)} s in, ${x.turns} turns`);
    throw new Error(`${(err as Error).message} (emulator: ${st.join('; ') || 'no session'})`);
  } finally {
    await user.close();
    await rooms.deleteRoom(room).catch(() => {});
    await emulator.close();
  }
}
