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
  /**
   * Such input went out while the model was generating: it cuts that reply (`interrupted`) or comes
   * after its turn, and is owed a reply of its own either way — the end of the cut turn does not end it.
   */
  #askedOverReply = false;
  /** Since `interrupted`, no output yet: a `turnComplete` now ends the cut turn, not the one owed. */
  #afterCut = false;
  /** The server's last word on whether the session could be resumed right now. */
  #serverResumable = true;
  #toolCallsPending = 0;

  /** A reply is owed or under way (input asked for one, or the model is producing one). */
  get owed(): boolean {
    return this.generating || this.#awaitingReply;
  }

  get busy(): boolean {
    return this.generating || this.#awaitingReply || this.#toolCallsPending > 0 || !this.#serverResumable;
  }

  /** A new connection: nothing of a reply runs on it yet. */
  connected(): void {
    this.generating = false;
    this.#serverResumable = true;
  }

  sent(msg: LiveInput): void {
    if (!asksForReply(msg)) return;
    this.#awaitingReply = true;
    if (this.generating) this.#askedOverReply = true;
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
        this.#afterCut = false;
        break;
      case 'inputTranscription':
        this.#awaitingReply = true;
        break;
      case 'interrupted':
        // Speech that barges in is answered once heard (its transcription says so again); text is not.
        this.generating = false;
        this.#awaitingReply = this.#askedOverReply;
        this.#askedOverReply = false;
        this.#afterCut = true;
        break;
      case 'turnComplete':
        this.generating = false;
        if (this.#afterCut) this.#afterCut = false;
        else this.#awaitingReply = this.#askedOverReply;
        this.#askedOverReply = false;
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
