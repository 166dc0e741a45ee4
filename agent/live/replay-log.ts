import type { LiveInput } from './input.ts';

interface Sent {
  /** The client message's index on its connection (setup is 0), as `lastConsumedClientMessageIndex` counts. */
  index: number;
  msg: LiveInput;
}

/**
 * Input the model may not have yet: what went out on the current connection since the latest resumption
 * handle (the server acknowledges through the handle's `lastConsumedClientMessageIndex`), then what was
 * accepted while no connection was usable. A new connection gets {@link ReplayLog.drain}ed in that order.
 * Audio is bounded to `maxMs`, oldest first; other input is small and kept.
 */
export class ReplayLog {
  readonly #maxMs: number;
  #sent: Sent[] = [];
  #held: LiveInput[] = [];
  /**
   * Upper bound of the audio ms held: pushes add to it, acknowledgements only ever lower the truth, and
   * {@link ReplayLog.bound} makes it exact again. It spares walking the log on every 20 ms frame.
   */
  #msBound = 0;

  constructor(maxMs: number) {
    this.#maxMs = maxMs;
  }

  /** Input sent as client message `index` of the current connection, or (no index) held for the next one. */
  push(msg: LiveInput, index?: number): void {
    if (index === undefined) this.#held.push(msg);
    else this.#sent.push({ index, msg });
    if (msg.kind === 'audio') this.#msBound += msg.ms;
  }

  /** A handle covers the current connection's messages up to `lastIndex` (all of them when unset). */
  acknowledge(lastIndex?: number): void {
    this.#sent = lastIndex === undefined ? [] : this.#sent.filter((e) => e.index > lastIndex);
  }

  /** Forgets what the current connection was sent: a new connection without its context cannot use it. */
  forgetSent(): void {
    this.#sent = [];
  }

  /** Drops held input of one kind (only the newest video frame is worth sending late). */
  dropHeld(kind: LiveInput['kind']): void {
    this.#held = this.#held.filter((m) => m.kind !== kind);
  }

  /**
   * Empties the log for a new connection: what the old one was sent (when the new one continues its
   * context), then what was held, in their original order.
   */
  drain(includeSent: boolean): LiveInput[] {
    const out = [...(includeSent ? this.#sent.map((e) => e.msg) : []), ...this.#held];
    this.clear();
    return out;
  }

  /** Takes every input larger than `maxBytes` out of the log, in log order. */
  removeLarger(maxBytes: number): LiveInput[] {
    const removed: LiveInput[] = [];
    const keep = (m: LiveInput) => {
      if (m.bytes <= maxBytes) return true;
      removed.push(m);
      return false;
    };
    this.#sent = this.#sent.filter((e) => keep(e.msg));
    this.#held = this.#held.filter(keep);
    return removed;
  }

  clear(): void {
    this.#sent = [];
    this.#held = [];
    this.#msBound = 0;
  }

  /** Keeps the log within `maxMs` of audio, dropping the oldest. Returns the samples dropped. */
  bound(): number {
    if (this.#msBound <= this.#maxMs) return 0;
    let ms = 0;
    for (const e of this.#sent) if (e.msg.kind === 'audio') ms += e.msg.ms;
    for (const m of this.#held) if (m.kind === 'audio') ms += m.ms;
    let dropped = 0;
    while (ms > this.#maxMs && this.#sent.length) {
      const e = this.#sent.shift()!;
      if (e.msg.kind === 'audio') ms -= e.msg.ms;
    }
    while (ms > this.#maxMs) {
      const i = this.#held.findIndex((m) => m.kind === 'audio');
      if (i < 0) break;
      const m = this.#held.splice(i, 1)[0] as Extract<LiveInput, { kind: 'audio' }>;
      ms -= m.ms;
      dropped += m.samples;
    }
    this.#msBound = ms;
    return dropped;
  }
}
