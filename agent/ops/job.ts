import { telemetry } from '@livekit/agents';
import type { Room } from '@livekit/rtc-node';
import { context, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Conversation } from '../bridge/conversation.ts';
import type { RoomBridge } from '../bridge/room-bridge.ts';
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
}

/** Job-process operations: metrics for this room and the drain watch. */
export interface JobOps {
  readonly metrics: JobMetrics;
  /** Counts an error that happened outside the bridge (`config`, …). */
  error(type: string): void;
  /** Instruments the bridge and starts the drain watch. */
  attach(bridge: RoomBridge): void;
  /** Final metrics snapshot; stops the drain watch. */
  aclose(): Promise<void>;
}

export function startJobOps(o: JobOpsOptions): JobOps {
  const dir = o.dir;
  const metrics = new JobMetrics();
  const writer = dir ? new SnapshotWriter(metrics, dir) : undefined;
  let stopDrain: (() => void) | undefined;
  metrics.jobs.inc();
  void writer?.flush();
  return {
    metrics,
    error(type) {
      metrics.errors.inc({ type });
      void writer?.flush();
    },
    attach(bridge) {
      bridge.on('sessions', (n) => {
        metrics.sessions.set(n);
        void writer?.flush();
      });
      const conversations = new Set<Conversation>();
      bridge.on('conversation', (c) => {
        conversations.add(c);
        c.once('closed', () => conversations.delete(c));
        instrumentConversation(c, metrics, o.room.name);
      });
      stopDrain = watchDrain({
        dir,
        activity: () => ({
          busy:
            bridge.state === 'speaking' ||
            bridge.state === 'thinking' ||
            [...conversations].some((c) => c.busy),
          humans: countHumans(o.room),
        }),
        end: (notice) => {
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
      await Promise.all([writer?.close(), flushTracing()]);
    },
  };
}

/**
 * Counts what one conversation reports (its Live session and tool calls), and traces it through the
 * framework's tracer: a `gemini_live_session` span with one `gemini_live_turn` child per model turn.
 */
export function instrumentConversation(conv: Conversation, m: JobMetrics, room = ''): void {
  const openedAt = performance.now();
  const session = telemetry.tracer.startSpan({
    name: 'gemini_live_session',
    attributes: { 'lk.room_name': room, 'lk.agent.track': conv.trackName },
  });
  const inSession = trace.setSpan(context.active(), session);
  let opened = false;
  let inputAt: number | undefined;
  let turn: Span | undefined;
  const startTurn = () => {
    turn ??= telemetry.tracer.startSpan({ name: 'gemini_live_turn', context: inSession });
  };
  const endTurn = (interrupted: boolean) => {
    turn?.setAttribute('gemini.interrupted', interrupted);
    turn?.end();
    turn = undefined;
  };
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
}
