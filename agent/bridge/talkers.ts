import { rmsDbfs } from '../../shared/audio/analyze.ts';
import { frameMs, type PcmFrame } from '../audio/frame.ts';

/** Options of a {@link TalkerTracker}. */
export interface TalkerTrackerOptions {
  /** Frame level above which a participant counts as talking, dBFS (default -45). */
  thresholdDbfs?: number;
  /** Talking continues this long after the last loud frame, ms (default 400). */
  hangoverMs?: number;
}

interface Talker {
  /** Audio time (ms of frames seen) of the last loud frame. */
  lastLoudAt: number;
  /** Audio time seen from this participant. */
  clock: number;
  talking: boolean;
  /** Loud ms since the last {@link TalkerTracker.resetTurn}. */
  turnMs: number;
}

/**
 * Who is talking, from the frames themselves (no reliance on server audio levels): a frame-energy gate
 * with hangover per participant, counted in audio time so a loaded machine does not change the answer.
 */
export class TalkerTracker {
  readonly #t = new Map<string, Talker>();
  readonly #threshold: number;
  readonly #hangover: number;
  #active: string | undefined;
  /** Fires when the most recent talker changes. */
  onActiveChange: ((identity: string | undefined) => void) | undefined;

  constructor(options: TalkerTrackerOptions = {}) {
    this.#threshold = options.thresholdDbfs ?? -45;
    this.#hangover = options.hangoverMs ?? 400;
  }

  /** Feeds one frame; returns whether the participant is talking now. */
  push(identity: string, frame: PcmFrame): boolean {
    let t = this.#t.get(identity);
    if (!t) {
      t = { lastLoudAt: Number.NEGATIVE_INFINITY, clock: 0, talking: false, turnMs: 0 };
      this.#t.set(identity, t);
    }
    const ms = frameMs(frame);
    t.clock += ms;
    const loud = rmsDbfs(frame.data) > this.#threshold;
    if (loud) {
      t.lastLoudAt = t.clock;
      t.turnMs += ms;
      if (!t.talking) {
        t.talking = true;
        this.#setActive(identity);
      }
    } else if (t.talking && t.clock - t.lastLoudAt > this.#hangover) {
      t.talking = false;
    }
    return t.talking;
  }

  /** Silence since the participant's last loud frame, in audio ms. */
  silentFor(identity: string): number {
    const t = this.#t.get(identity);
    return t ? t.clock - t.lastLoudAt : Number.POSITIVE_INFINITY;
  }

  isTalking(identity: string): boolean {
    return this.#t.get(identity)?.talking ?? false;
  }

  /** The participant who started talking most recently. */
  get active(): string | undefined {
    return this.#active;
  }

  /** Who talked most since the last reset (the author of the current user turn). */
  dominant(): string | undefined {
    let best: string | undefined;
    let ms = 0;
    for (const [id, t] of this.#t) {
      if (t.turnMs > ms) {
        ms = t.turnMs;
        best = id;
      }
    }
    return best ?? this.#active;
  }

  resetTurn(): void {
    for (const t of this.#t.values()) t.turnMs = 0;
  }

  remove(identity: string): void {
    this.#t.delete(identity);
    if (this.#active === identity) this.#setActive(undefined);
  }

  #setActive(identity: string | undefined): void {
    if (this.#active === identity) return;
    this.#active = identity;
    this.onActiveChange?.(identity);
  }
}
