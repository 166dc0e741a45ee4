import { telemetry } from '@livekit/agents';
import type { Room } from '@livekit/rtc-node';
import { context, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { modelId } from '../../shared/gemini-models/index.ts';
import type { Conversation } from '../bridge/conversation.ts';
import type { RoomBridge } from '../bridge/room-bridge.ts';
import { type LiveUsage, UsageTotals } from '../live/usage.ts';
import type { Logger } from '../log.ts';
import { SnapshotWriter } from './channel.ts';
import { watchDrain } from './drain.ts';
import { countHumans } from './empty-room.ts';
import { JobMetrics } from './metrics.ts';
import { flushTracing } from './tracing.ts';

/** Options of {@link startJobOps}. */
export interface JobOpsOptions {
  room: Room;
  logger: Logger;
  /** Ends the job (`ctx.shutdown`). */
  shutdown: (reason: string) => void;
  /** The worker's load directory (`AGENT_LOAD_DIR`, set by the worker); no metrics or drain without it. */
  dir: string | undefined;
  /** How long the drain believes in a reply the model owes but shows no sign of, ms (`AGENT_DRAIN_REPLY_WAIT_S`). */
  replyWaitMs: number;
  /** Longest the drain waits for a hand-off to this job to complete, ms (`AGENT_HANDOFF_TIMEOUT_S`). */
  takeOverWaitMs: number;
}

/** Job-process operations: metrics for this room and the drain watch. */
export interface JobOps {
  readonly metrics: JobMetrics;
  /** Counts an error that happened outside the bridge (`config`, …). */
  error(type: string): void;
  /**
   * Instruments the bridge (its Live sessions run `model`) and starts the drain watch; `handOff`
   * (`AGENT_DRAIN_MODE=handoff`) hands the conversation to another job, true once it did. It is given
   * the drain's own judgement of a turn boundary (`between`: nothing playing, no tool running, no reply
   * owed that the model still shows signs of), to pick the moment its sessions close by.
   * `takingOver`: true while this job is still taking the conversation over from another (a hand-off
   * to it, not yet complete): the drain waits for that first (bounded), since the old job may already
   * have closed its sessions — ending now would leave the conversation without an agent.
   */
  attach(
    bridge: RoomBridge,
    o: {
      model: string;
      handOff?: (between: () => boolean) => Promise<boolean>;
      takingOver?: () => boolean;
    },
  ): void;
  /**
   * Final metrics snapshot; stops the drain watch. Once every conversation has closed (or none was
   * attached), logs the job's closing line with each Live session's token totals.
   */
  aclose(): Promise<void>;
}

export function startJobOps(o: JobOpsOptions): JobOps {
  const dir = o.dir;
  const metrics = new JobMetrics();
  const writer = dir ? new SnapshotWriter(metrics, dir) : undefined;
  let stopDrain: (() => void) | undefined;
  let attached = false;
  let summarised = false;
  const conversations = new Set<Conversation>();
  const usage: SessionUsage[] = [];
  metrics.jobs.inc();
  void writer?.flush();
  return {
    metrics,
    error(type) {
      metrics.errors.inc({ type });
      void writer?.flush();
    },
    attach(bridge, { model, handOff, takingOver }) {
      attached = true;
      bridge.on('sessions', (n) => {
        metrics.sessions.set(n);
        void writer?.flush();
      });
      bridge.on('conversation', (c) => {
        conversations.add(c);
        c.once('closed', () => conversations.delete(c));
        usage.push(instrumentConversation(c, metrics, { room: o.room.name, model }));
      });
      const busy = drainBusy(o, () => [...conversations], takingOver);
      stopDrain = watchDrain({
        dir,
        activity: () => ({ busy: busy(), humans: countHumans(o.room) }),
        ...(handOff && { handOff: () => handOff(() => !busy()) }),
        end: (notice, handedOff) => {
          if (handedOff) {
            o.logger.info({ room: o.room.name }, 'drain: the conversation was handed off, the job ends');
            o.shutdown('handed off');
            return;
          }
          o.logger.info(
            { room: o.room.name, deadline: new Date(notice.deadline).toISOString() },
            'drain: ending the job at a turn boundary',
          );
          o.shutdown('worker draining');
        },
      });
    },
    async aclose() {
      stopDrain?.();
      metrics.sessions.set(0);
      if (!summarised && (!attached || conversations.size === 0)) {
        summarised = true;
        const tokens = new UsageTotals();
        for (const u of usage) tokens.merge(u.totals);
        o.logger.info(
          {
            room: o.room.name,
            tokens: tokens.toJSON(),
            sessions: usage.map((u) => ({ track: u.track, model: u.model, tokens: u.totals.toJSON() })),
          },
          'job ended',
        );
      }
      await Promise.all([writer?.close(), flushTracing()]);
    },
  };
}

/**
 * Whether the drain must still wait for this job's conversations (called only while a drain runs). What
 * ends by itself is waited for: speech playing out, tools (their timeouts), a hand-off to this job
 * (bounded by `takeOverWaitMs`). A reply the model owes counts only while the model shows signs of it
 * within `replyWaitMs`: a state left `thinking` with nothing pending (a late transcription after the
 * turn ended, a reply that never comes) must not hold the drain to its deadline. Each give-up is logged.
 */
function drainBusy(
  o: JobOpsOptions,
  conversations: () => Conversation[],
  takingOver: (() => boolean) | undefined,
): () => boolean {
  const { replyWaitMs, takeOverWaitMs } = o;
  let takeOverSince: number | undefined;
  let takeOverGivenUp = false;
  /** Conversations whose silent reply was given up on (logged once per silence). */
  const givenUp = new WeakSet<Conversation>();
  return () => {
    if (!takeOverGivenUp && takingOver?.()) {
      const now = Date.now();
      if (takeOverSince === undefined) {
        takeOverSince = now;
        o.logger.info(
          { room: o.room.name },
          'drain: the hand-off to this job is still under way; the drain waits for it first',
        );
      }
      if (now - takeOverSince < takeOverWaitMs) return true;
      takeOverGivenUp = true;
      o.logger.warn(
        { room: o.room.name, waitedMs: now - takeOverSince },
        'drain: the hand-off to this job did not complete in time (AGENT_HANDOFF_TIMEOUT_S); draining without it',
      );
    }
    let busy = false;
    for (const c of conversations()) {
      const t = c.turn;
      const pending = t.playing || t.tools > 0 || t.replySilentMs !== undefined;
      const stalled = !t.playing && t.tools === 0 && (t.replySilentMs ?? 0) >= replyWaitMs;
      if (!stalled) {
        givenUp.delete(c);
        busy ||= pending;
      } else if (!givenUp.has(c)) {
        givenUp.add(c);
        o.logger.warn(
          { room: o.room.name, conversation: c.trackName, state: c.state, silentMs: t.replySilentMs },
          'drain: the model has shown no sign of the reply it owes (AGENT_DRAIN_REPLY_WAIT_S): not waiting for it',
        );
      }
    }
    return busy;
  };
}

/** One Live session's token usage, for the job's closing line. */
export interface SessionUsage {
  track: string;
  model: string;
  totals: UsageTotals;
}

/** Per-turn usage as span attributes: OpenTelemetry's GenAI names for input/output, ours for the rest. */
function usageAttributes(u: UsageTotals): Record<string, number> {
  return {
    'gen_ai.usage.input_tokens': u.input,
    'gen_ai.usage.output_tokens': u.output,
    'gemini.usage.cached_tokens': u.cached,
    'gemini.usage.thought_tokens': u.thought,
    'gemini.usage.tool_use_tokens': u.toolUse,
    'gemini.usage.total_tokens': u.total,
  };
}

/**
 * Counts what one conversation reports (its Live session, tool calls and token usage), and traces it
 * through the framework's tracer: a `gemini_live_session` span with one `gemini_live_turn` child per
 * model turn, which carries the turn's token usage. Returns the session's running token totals.
 */
export function instrumentConversation(
  conv: Conversation,
  m: JobMetrics,
  o: { room?: string; model: string },
): SessionUsage {
  const openedAt = performance.now();
  const model = modelId(o.model);
  const totals = new UsageTotals();
  const session = telemetry.tracer.startSpan({
    name: 'gemini_live_session',
    attributes: {
      'lk.room_name': o.room ?? '',
      'lk.agent.track': conv.trackName,
      'gen_ai.request.model': model,
    },
  });
  const inSession = trace.setSpan(context.active(), session);
  let opened = false;
  let inputAt: number | undefined;
  let turn: Span | undefined;
  let turnUsage: UsageTotals | undefined;
  const startTurn = () => {
    turn ??= telemetry.tracer.startSpan({ name: 'gemini_live_turn', context: inSession });
  };
  const endTurn = (interrupted: boolean) => {
    turn?.setAttribute('gemini.interrupted', interrupted);
    if (turnUsage) turn?.setAttributes(usageAttributes(turnUsage));
    turn?.end();
    turn = undefined;
    turnUsage = undefined;
  };
  conv.on('usage', (u: LiveUsage) => {
    totals.add(u);
    for (const c of u.counts) m.tokens.inc({ direction: c.direction, modality: c.modality, model }, c.tokens);
    if (turn) {
      turnUsage ??= new UsageTotals();
      turnUsage.add(u);
    } else {
      // Usage reported outside a turn (after its end, or for a turn never traced): on the session.
      const one = new UsageTotals();
      one.add(u);
      session.addEvent('usage', usageAttributes(one));
    }
  });
  conv.on('ready', ({ resumed, connection }) => {
    session.addEvent('connected', { resumed, connection });
    if (opened) return;
    opened = true;
    m.sessionsOpened.inc();
    m.connectSeconds.observe((performance.now() - openedAt) / 1000);
  });
  conv.on('inputTranscription', ({ overReply }) => {
    // Transcripts of speech over a reply belong to a barge-in, timed from 'interrupted'.
    if (overReply) return;
    inputAt = performance.now();
    startTurn();
  });
  conv.on('audio', () => {
    startTurn();
    if (inputAt === undefined) return;
    const latency = (performance.now() - inputAt) / 1000;
    m.firstAudio.observe(latency);
    turn?.setAttribute('gemini.first_audio_latency_ms', Math.round(latency * 1000));
    inputAt = undefined;
  });
  conv.on('turnComplete', () => {
    m.turns.inc();
    inputAt = undefined;
    endTurn(false);
  });
  conv.on('interrupted', () => {
    m.interruptions.inc();
    inputAt = performance.now();
    endTurn(true);
  });
  conv.on('reconnecting', (r) => {
    if (r.attempt !== 1) return;
    m.reconnects.inc({ cause: r.reason });
    session.addEvent('reconnecting', { cause: r.reason, ...(r.code !== undefined && { code: r.code }) });
  });
  conv.on('contextLost', () => {
    m.errors.inc({ type: 'context_lost' });
    session.addEvent('context_lost');
  });
  conv.on('fatal', (err) => {
    m.errors.inc({ type: err.kind });
    session.setStatus({ code: SpanStatusCode.ERROR, message: err.kind });
  });
  conv.on('closed', () => {
    endTurn(false);
    session.setAttributes(usageAttributes(totals));
    session.end();
    // Export now: the job process may be gone before its shutdown callbacks get to flush.
    void flushTracing();
  });
  const started = new Map<string, number>();
  conv.on('toolStarted', (c) => started.set(c.id, performance.now()));
  conv.on('toolFinished', (c) => {
    const at = started.get(c.id);
    started.delete(c.id);
    const outcome = c.cancelled ? 'cancelled' : c.ok ? 'ok' : 'error';
    m.toolCalls.inc({ tool: c.name, outcome });
    turn?.addEvent('tool_call', { tool: c.name, outcome });
    if (at !== undefined) m.toolSeconds.observe({ tool: c.name }, (performance.now() - at) / 1000);
  });
  return { track: conv.trackName, model, totals };
}
