import { ParticipantKind, type Room } from '@livekit/rtc-node';
import type { Conversation } from '../bridge/conversation.ts';
import type { RoomBridge } from '../bridge/room-bridge.ts';
import { LOAD_DIR_ENV } from '../load.ts';
import type { Logger } from '../log.ts';
import { watchDrain } from './drain.ts';
import { JobMetrics, SnapshotWriter } from './metrics.ts';

/** Options of {@link startJobOps}. */
export interface JobOpsOptions {
  room: Room;
  logger: Logger;
  /** Ends the job (`ctx.shutdown`). */
  shutdown: (reason: string) => void;
  /** The worker's load directory; `AGENT_LOAD_DIR` when unset (inherited from the worker). */
  dir?: string;
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
  const dir = o.dir ?? process.env[LOAD_DIR_ENV];
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
      bridge.on('conversation', (c) => instrumentConversation(c, metrics));
      stopDrain = watchDrain({
        dir,
        activity: () => ({
          busy: bridge.state === 'speaking' || bridge.state === 'thinking',
          humans: [...o.room.remoteParticipants.values()].filter((p) => p.kind !== ParticipantKind.AGENT)
            .length,
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
      await writer?.close();
    },
  };
}

/** Counts what one conversation's Live session and tool runner report. */
export function instrumentConversation(conv: Conversation, m: JobMetrics): void {
  const live = conv.live;
  const openedAt = performance.now();
  let opened = false;
  let inputAt: number | undefined;
  live.on('ready', () => {
    if (opened) return;
    opened = true;
    m.sessionsOpened.inc();
    m.connectSeconds.observe((performance.now() - openedAt) / 1000);
  });
  live.on('inputTranscription', () => {
    // Transcripts of speech over a reply belong to a barge-in, timed from 'interrupted'.
    if (!live.generating) inputAt = performance.now();
  });
  live.on('audio', () => {
    if (inputAt === undefined) return;
    m.firstAudio.observe((performance.now() - inputAt) / 1000);
    inputAt = undefined;
  });
  live.on('turnComplete', () => {
    m.turns.inc();
    inputAt = undefined;
  });
  live.on('interrupted', () => {
    m.interruptions.inc();
    inputAt = performance.now();
  });
  live.on('reconnecting', (r) => {
    if (r.attempt === 1) m.reconnects.inc({ cause: r.reason });
  });
  live.on('contextLost', () => m.errors.inc({ type: 'context_lost' }));
  live.on('fatal', (err) => m.errors.inc({ type: err.kind }));
  const started = new Map<string, number>();
  conv.toolRunner.on('started', (c) => started.set(c.id, performance.now()));
  conv.toolRunner.on('finished', (c) => {
    const at = started.get(c.id);
    started.delete(c.id);
    m.toolCalls.inc({ tool: c.name, outcome: c.cancelled ? 'cancelled' : c.ok ? 'ok' : 'error' });
    if (at !== undefined) m.toolSeconds.observe({ tool: c.name }, (performance.now() - at) / 1000);
  });
}
