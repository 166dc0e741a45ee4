import { type RoomConfig, roomConfigSchema } from '../config/room.ts';
import type { Logger } from '../log.ts';
import { type CheckpointBinding, CheckpointError, openCheckpoint } from './codec.ts';
import type { Checkpoint } from './state.ts';
import { sealedFromMetadata } from './store.ts';

/** Options of {@link loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /** The room's metadata (the job's room at join, or read from the server). */
  metadata: string | undefined;
  key: Buffer;
  bind: CheckpointBinding;
  logger: Logger;
  /** Refuse checkpoints older than this, ms (none by default: a stale handle falls back to the transcript). */
  maxAgeMs?: number;
}

/** A checkpoint to resume from, with the room configuration it ran under. */
export interface ResumePoint {
  checkpoint: Checkpoint;
  config: RoomConfig;
}

/**
 * The checkpoint a job starting in this room resumes from: the one in room metadata for this agent
 * name, if authentic (sealed with our key, for this room and agent name) and readable. Anything else
 * is refused with one log line naming the reason (never the content) and the job starts fresh.
 */
export function loadCheckpoint(o: LoadCheckpointOptions): ResumePoint | undefined {
  const sealed = sealedFromMetadata(o.metadata, o.bind.agentName);
  if (sealed === undefined) return undefined;
  const where = { room: o.bind.room, agentName: o.bind.agentName };
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(sealed, o.key, o.bind, {
      ...(o.maxAgeMs !== undefined && { maxAgeMs: o.maxAgeMs }),
    });
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    o.logger.warn({ ...where, reason: err.reason }, `checkpoint refused (${err.message}): starting fresh`);
    return undefined;
  }
  const config = roomConfigSchema.safeParse(checkpoint.config);
  if (!config.success) {
    o.logger.warn(
      { ...where, reason: 'config' },
      'checkpoint refused (its room configuration is not valid here): starting fresh',
    );
    return undefined;
  }
  o.logger.info(
    {
      ...where,
      seq: checkpoint.seq,
      owner: checkpoint.owner.identity,
      handle: !!checkpoint.handle || Object.values(checkpoint.private).some((s) => !!s.handle),
      turns: checkpoint.transcript.length,
      ageMs: Date.now() - checkpoint.writtenAt,
    },
    'resuming from checkpoint',
  );
  return { checkpoint, config: config.data };
}
