import type { RoomBridge } from '../bridge/room-bridge.ts';
import type { CheckpointSettings } from '../config/env.ts';
import type { RoomConfig } from '../config/room.ts';
import type { Logger } from '../log.ts';
import { checkpointKey } from './key.ts';
import { loadCheckpoint, type ResumePoint } from './resume.ts';
import { CheckpointStore } from './store.ts';
import { CheckpointWriter } from './writer.ts';

/** Options of {@link JobCheckpoint.open}. */
export interface JobCheckpointOptions {
  settings: CheckpointSettings;
  /** The worker's LiveKit URL and key pair (room metadata is written through the server API). */
  livekit: { url: string; apiKey: string; apiSecret: string };
  room: string;
  /** The job's agent name (`''` for automatic dispatch): each agent name has its own checkpoint. */
  agentName: string;
  jobId: string;
  /** The agent participant's identity. */
  identity: string;
  /** The room's metadata at join (holds the checkpoint an earlier job left). */
  metadata: string | undefined;
  /** Another job has taken this conversation over (its checkpoint is newer): see `CheckpointWriter`. */
  onSuperseded?: (by: { jobId: string; identity: string }) => void;
  logger: Logger;
}

/**
 * A job's checkpoint: what it resumes from (`resume`, read when the job starts) and, once the bridge
 * runs, the writer that keeps the room's checkpoint current (`attach`). The entry (agent/entry.ts)
 * calls `open` after joining and `attach` once the bridge exists; a planned exit calls `flush()` for a
 * final write before the Live sessions close.
 */
export class JobCheckpoint {
  /** The checkpoint this job resumes from, if the room held a valid one for its agent name. */
  readonly resume: ResumePoint | undefined;
  readonly #o: JobCheckpointOptions;
  readonly #key: Buffer;
  #writer: CheckpointWriter | undefined;

  private constructor(o: JobCheckpointOptions, key: Buffer, resume: ResumePoint | undefined) {
    this.#o = o;
    this.#key = key;
    this.resume = resume;
  }

  /** Reads the room's checkpoint for this agent name; undefined when checkpoints are off (`AGENT_CHECKPOINT`). */
  static open(o: JobCheckpointOptions): JobCheckpoint | undefined {
    if (!o.settings.enabled) return undefined;
    const key = checkpointKey(o.settings.secret);
    const bind = { room: o.room, agentName: o.agentName };
    return new JobCheckpoint(o, key, loadCheckpoint({ metadata: o.metadata, key, bind, logger: o.logger }));
  }

  /** The writer, once attached. */
  get writer(): CheckpointWriter | undefined {
    return this.#writer;
  }

  /**
   * Starts keeping the room's checkpoint: a write now, then after each turn and each new resumption
   * handle (rate-limited by the writer). `seq`: of the checkpoint the job actually resumed from, when
   * it is not `resume`'s (a hand-off resumes from the old job's final one).
   */
  attach(bridge: RoomBridge, config: RoomConfig, seq?: number): CheckpointWriter {
    const o = this.#o;
    const writer = new CheckpointWriter({
      store: new CheckpointStore({
        livekitUrl: o.livekit.url,
        apiKey: o.livekit.apiKey,
        apiSecret: o.livekit.apiSecret,
        room: o.room,
        agentName: o.agentName,
      }),
      key: this.#key,
      bind: { room: o.room, agentName: o.agentName },
      owner: { jobId: o.jobId, identity: o.identity },
      state: () => ({ ...bridge.checkpointState(), model: config.model, config: { ...config } }),
      ...(this.resume && { seq: this.resume.checkpoint.seq }),
      ...(seq !== undefined && { seq }),
      intervalMs: o.settings.intervalMs,
      ...(o.onSuperseded && { onSuperseded: o.onSuperseded }),
      logger: o.logger,
    });
    bridge.on('checkpoint', () => writer.request());
    this.#writer = writer;
    writer.request();
    return writer;
  }

  /** Writes the checkpoint now (a planned exit, a hand-off); nothing before `attach`. */
  async flush(): Promise<void> {
    await this.#writer?.flush();
  }

  /** A final write, then no more. */
  async aclose(): Promise<void> {
    await this.#writer?.aclose();
  }
}
