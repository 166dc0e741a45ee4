import type { Logger } from '../log.ts';
import { type CheckpointBinding, CheckpointError, openCheckpoint, sealBounded } from './codec.ts';
import { CHECKPOINT_VERSION, type Checkpoint, type CheckpointState } from './state.ts';
import type { CheckpointStore } from './store.ts';

/** Shortest time between two checkpoint writes by default, ms (LiveKit: update metadata at most every few seconds). */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 3000;

/** Options of a {@link CheckpointWriter}. */
export interface CheckpointWriterOptions {
  store: Pick<CheckpointStore, 'write'>;
  /** The checkpoint key (key.ts). Never logged. */
  key: Buffer;
  bind: CheckpointBinding;
  /** The job writing (`owner` of every checkpoint it writes). */
  owner: Checkpoint['owner'];
  /** The job's state now; undefined while there is nothing worth keeping yet. */
  state: () => CheckpointState | undefined;
  /** `seq` of the checkpoint this job resumed from: its writes continue above it. */
  seq?: number;
  /** Shortest time between two writes, ms (default {@link DEFAULT_CHECKPOINT_INTERVAL_MS}). */
  intervalMs?: number;
  /**
   * The room holds a newer checkpoint of another job (it resumed from ours: a hand-off, a recovery):
   * this writer stops for good, and says so here once.
   */
  onSuperseded?: (by: Checkpoint['owner']) => void;
  logger: Logger;
}

/**
 * The job's checkpoint writer: `request()` at turn boundaries and when a new resumption handle arrives,
 * at most one write per `intervalMs` (requests in between are coalesced into the next write, which
 * takes the state as it is then); `flush()` writes now, for a planned exit. One write at a time, in
 * order; a failed write is logged (never its content) and retried with the next request. A writer
 * that finds a newer checkpoint of another job in the room (that job resumed from ours) stops.
 */
export class CheckpointWriter {
  readonly #o: CheckpointWriterOptions;
  readonly #interval: number;
  #seq: number;
  #lastAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #off = false;

  constructor(o: CheckpointWriterOptions) {
    this.#o = o;
    this.#interval = o.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    this.#seq = o.seq ?? 0;
  }

  /** `seq` of the last checkpoint written (or resumed from). */
  get seq(): number {
    return this.#seq;
  }

  /** Something worth keeping changed: write soon (now, or once the interval since the last write has passed). */
  request(): void {
    if (this.#closed || this.#off || this.#timer) return;
    const wait = Math.max(0, this.#lastAt + this.#interval - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#enqueue();
    }, wait);
    this.#timer.unref?.();
  }

  /** Writes the state now (a planned exit, a hand-off) and resolves once it is stored. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#off) return;
    await this.#enqueue();
  }

  /** A final write, then no more. */
  async aclose(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
  }

  /** The checkpoint in the room, if another job wrote it after the last one we wrote or resumed from. */
  #newerOfOther(current: string | undefined): Checkpoint | undefined {
    if (!current) return undefined;
    try {
      const cp = openCheckpoint(current, this.#o.key, this.#o.bind);
      return cp.seq > this.#seq && cp.owner.jobId !== this.#o.owner.jobId ? cp : undefined;
    } catch {
      return undefined; // not ours to keep: overwritten
    }
  }

  #enqueue(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#write());
    return this.#writing;
  }

  async #write(): Promise<void> {
    const state = this.#o.state();
    if (!state || this.#off) return;
    this.#lastAt = performance.now();
    const seq = this.#seq + 1;
    const { bind, owner, key, logger } = this.#o;
    const cp: Checkpoint = {
      ...structuredClone(state),
      v: CHECKPOINT_VERSION,
      room: bind.room,
      agentName: bind.agentName,
      seq,
      writtenAt: Date.now(),
      owner,
    };
    let sealed: string;
    try {
      sealed = sealBounded(cp, key, bind);
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      logger.warn({ room: bind.room, reason: err.reason }, `checkpoint not written: ${err.message}`);
      return;
    }
    try {
      let newer: Checkpoint | undefined;
      const result = await this.#o.store.write(sealed, (current) => {
        newer = this.#newerOfOther(current);
        return newer !== undefined;
      });
      if (result === 'superseded') {
        this.#off = true;
        const by = (newer as Checkpoint | undefined)?.owner ?? { jobId: '', identity: '' };
        logger.info(
          {
            room: bind.room,
            seq: this.#seq,
            newerSeq: (newer as Checkpoint | undefined)?.seq,
            owner: by.identity,
          },
          'checkpoint taken over by another job: this one writes no more',
        );
        this.#o.onSuperseded?.(by);
        return;
      }
      if (result === 'not-object') {
        this.#off = true;
        logger.warn(
          { room: bind.room },
          'checkpoints off for this room: its metadata is not a JSON object (it is never overwritten)',
        );
        return;
      }
      if (result === 'ok') {
        this.#seq = seq;
        logger.debug(
          { room: bind.room, seq, bytes: sealed.length, handle: !!cp.handle },
          'checkpoint written',
        );
      }
    } catch (err) {
      logger.warn({ room: bind.room, err: String(err) }, 'checkpoint write failed');
    }
  }
}
