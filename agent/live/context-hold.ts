import { contentInput, type LiveInput } from './input.ts';

/**
 * Context for the model (joins, leaves, who is speaking) waiting for the model to be between replies.
 * The model's `clientContent` rule decides how it goes out: on 2.x any `clientContent` interrupts a
 * reply, so it is sent between replies with `turnComplete: false` and only informs; on 3.x content
 * without `turnComplete` leaves the server waiting for the rest of the turn, so it is sent with
 * `turnComplete: true` (only `turnComplete` interrupts there, hence the wait for a pause).
 */
export class ContextHold {
  readonly #completes: boolean;
  #held: string[] = [];

  /** `completes`: the model waits for `turnComplete` (the catalogue's `clientContent.interrupts`). */
  constructor(completes: boolean) {
    this.#completes = completes;
  }

  /** Pieces of context held. */
  get size(): number {
    return this.#held.length;
  }

  /** The message `text` would go out as (to check its size before holding it). */
  message(text: string): LiveInput {
    return contentInput(text, this.#completes);
  }

  hold(text: string): void {
    this.#held.push(text);
  }

  /**
   * Everything held, as the messages to send now: one joined message when it fits `maxBytes`, else
   * one per piece (each was checked when held).
   */
  take(maxBytes: number): LiveInput[] {
    const held = this.#held.splice(0);
    if (!held.length) return [];
    const joined = this.message(held.join('\n'));
    return joined.bytes <= maxBytes ? [joined] : held.map((text) => this.message(text));
  }
}
