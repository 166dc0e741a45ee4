import { pushTurn, type SessionState, type TranscriptTurn, tailTurn } from '../checkpoint/state.ts';
import type { HistoryTurn } from '../live/input.ts';
import { chatForModel } from './chat.ts';

/** The turns still under way when a checkpoint is taken (see {@link TranscriptTail.checkpoint}). */
export interface OpenTurns {
  /** The text of the reply streaming in, if any. */
  agent?: string | undefined;
  /** The user segment still open, if any, and who speaks it. */
  user?: { text: string; speaker?: string | undefined } | undefined;
}

/**
 * What a conversation's checkpoint keeps of its transcript, and where its resumption handle stands in
 * it: the last finished turns (bounded), which rebuild the context when a handle fails, and how many
 * of them came after the current handle, which a session resumed with that handle has not heard and
 * is told first. A turn count that outlives the bound marks the handle's place, so the tail dropping
 * its oldest turns does not move it.
 */
export class TranscriptTail {
  /** Without one, the shared session heard several people: a user turn names its speaker. */
  readonly #audience: string | undefined;
  /** Finished turns, oldest first, bounded: the checkpoint's transcript tail. */
  readonly #tail: TranscriptTurn[] = [];
  /** Turns ever added to the tail (it drops the oldest): positions that outlive the bound. */
  #turns = 0;
  /** {@link #turns} when the current handle arrived: the later turns are the checkpoint's `sinceHandle`. */
  #handleTurns = 0;
  #handleAt: number | undefined;

  /** `audience`: the one participant a per-participant conversation serves. */
  constructor(audience: string | undefined) {
    this.#audience = audience;
  }

  /** A finished turn (an empty one is not kept). */
  push(turn: TranscriptTurn): void {
    if (pushTurn(this.#tail, turn)) this.#turns += 1;
  }

  /**
   * Takes an earlier job's tail as this conversation's, and its handle's place; returns the turns after
   * its handle, for the resumed session (older checkpoints say none).
   */
  resume(r: SessionState): HistoryTurn[] {
    this.#tail.splice(0, this.#tail.length, ...r.transcript.map((t) => ({ ...t })));
    this.#turns = this.#tail.length;
    const since = r.handle ? Math.min(r.sinceHandle ?? 0, this.#tail.length) : 0;
    // Until the resumed session's first handle, the checkpoint's handle is still ours: the same turns follow it.
    this.#handleTurns = this.#turns - since;
    this.#handleAt = r.handle ? r.handleAt : undefined;
    return since ? this.seed().slice(-since) : [];
  }

  /**
   * A new handle arrived: it is the checkpoint's from now. `early`: issued before the turns after the
   * last one were told (a resumed connection's first), so it still lacks them.
   */
  handleArrived(early: boolean): void {
    this.#handleAt = Date.now();
    if (!early) this.#handleTurns = this.#turns;
  }

  /** The transcript tail as turns for a fresh session (`seed`), speakers named as the model heard them. */
  seed(): HistoryTurn[] {
    const audience = this.#audience;
    return this.#tail.map((t) => ({
      role: t.role,
      text: t.role === 'user' && t.speaker && !audience ? chatForModel(t.speaker, t.text, false) : t.text,
      ...(t.cut && { cut: true }),
    }));
  }

  /**
   * What a checkpoint keeps: `handle` (the session's latest), the transcript tail — with the turns
   * under way (the reply so far, marked cut: a job that resumes from it finds it cut) — and how many
   * of its turns came after the handle.
   */
  checkpoint(handle: string | undefined, open: OpenTurns): SessionState {
    const transcript = this.#tail.map((t) => ({ ...t }));
    let since = this.#turns - this.#handleTurns;
    // The reply began after the user's turn, so a user segment still open began after the reply.
    if (open.agent !== undefined && pushTurn(transcript, tailTurn('model', open.agent, undefined, true)))
      since += 1;
    const user = open.user;
    if (user && pushTurn(transcript, tailTurn('user', user.text, user.speaker))) since += 1;
    return {
      ...(handle && {
        handle,
        ...(this.#handleAt !== undefined && { handleAt: this.#handleAt }),
        sinceHandle: Math.min(since, transcript.length),
      }),
      transcript,
    };
  }
}
