import type { LiveServerEvent } from './decode.ts';
import { asksForReply, type LiveInput } from './input.ts';

/**
 * Whether a reply is under way, from the input sent and the events received. A `goAway` migration waits
 * while it is {@link ReplyState.busy}: migrating then would cut the reply or make the new connection
 * redo it.
 */
export class ReplyState {
  /** The model is producing a reply. */
  generating = false;
  /** Input that asks for a reply went out (text, activityEnd, heard speech) and no turn ended since. */
  #awaitingReply = false;
  /** The server's last word on whether the session could be resumed right now. */
  #serverResumable = true;
  #toolCallsPending = 0;

  get busy(): boolean {
    return this.generating || this.#awaitingReply || this.#toolCallsPending > 0 || !this.#serverResumable;
  }

  /** A new connection: nothing of a reply runs on it yet. */
  connected(): void {
    this.generating = false;
    this.#serverResumable = true;
  }

  sent(msg: LiveInput): void {
    if (asksForReply(msg)) this.#awaitingReply = true;
  }

  toolResponses(count: number): void {
    this.#toolCallsPending = Math.max(0, this.#toolCallsPending - count);
  }

  /** `fresh` is false for a resumption update issued before the replay reached the server. */
  observe(ev: LiveServerEvent, fresh: boolean): void {
    switch (ev.type) {
      case 'audio':
      case 'text':
        this.generating = true;
        break;
      case 'inputTranscription':
        this.#awaitingReply = true;
        break;
      case 'interrupted':
      case 'turnComplete':
        this.generating = false;
        this.#awaitingReply = false;
        break;
      case 'toolCall':
        this.#toolCallsPending += ev.calls.length;
        break;
      case 'toolCallCancellation':
        this.toolResponses(ev.ids.length);
        break;
      case 'resumption':
        if (fresh) this.#serverResumable = ev.resumable;
        break;
    }
  }
}
