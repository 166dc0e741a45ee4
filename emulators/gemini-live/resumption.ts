/**
 * Session resumption handles. Each handle is a snapshot of the conversation at an idle point; resuming
 * with it starts a new connection from that state. Handles expire after `ttlMs`; only the most recent
 * {@link HANDLES_PER_SESSION} of a session stay valid, so a long session's snapshots cannot pile up.
 */
import { randomBytes } from 'node:crypto';
import { type Conversation, cloneConversation } from './conversation.ts';

export const HANDLES_PER_SESSION = 4;

interface Stored {
  conversation: Conversation;
  expiresAt: number;
  /** Ephemeral token the session was opened with (for diagnostics). */
  token: string | undefined;
}

export class ResumptionStore {
  #ttlMs: number;
  #handles = new Map<string, Stored>();
  #bySession = new Map<string, string[]>();
  /** Connections open per session (set up, not closed): a resume while one is open is refused. */
  #open = new Map<string, number>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** Stores a snapshot and returns its new handle. */
  issue(conversation: Conversation, token: string | undefined, at = Date.now()): string {
    this.#sweep(at);
    const handle = `rh-${randomBytes(18).toString('base64url')}`;
    this.#handles.set(handle, {
      conversation: cloneConversation(conversation),
      expiresAt: at + this.#ttlMs,
      token,
    });
    const recent = this.#bySession.get(conversation.sessionId) ?? [];
    recent.push(handle);
    while (recent.length > HANDLES_PER_SESSION) this.#handles.delete(recent.shift()!);
    this.#bySession.set(conversation.sessionId, recent);
    return handle;
  }

  /** The conversation to continue, or `undefined` for an unknown/expired handle. */
  take(
    handle: string,
    at = Date.now(),
  ): { conversation: Conversation; token: string | undefined } | undefined {
    this.#sweep(at);
    const stored = this.#handles.get(handle);
    if (!stored) return undefined;
    return { conversation: cloneConversation(stored.conversation), token: stored.token };
  }

  /** A connection of `sessionId` completed its setup. */
  opened(sessionId: string): void {
    this.#open.set(sessionId, (this.#open.get(sessionId) ?? 0) + 1);
  }

  /** A connection of `sessionId` that had completed its setup closed. */
  closed(sessionId: string): void {
    const n = (this.#open.get(sessionId) ?? 0) - 1;
    if (n > 0) this.#open.set(sessionId, n);
    else this.#open.delete(sessionId);
  }

  /** Some connection of `sessionId` is open. */
  isOpen(sessionId: string): boolean {
    return this.#open.has(sessionId);
  }

  /** Expires every handle now (tests of stale handles). */
  expireAll(): void {
    this.#handles.clear();
    this.#bySession.clear();
  }

  get size(): number {
    return this.#handles.size;
  }

  #sweep(at: number): void {
    for (const [h, s] of this.#handles) if (s.expiresAt <= at) this.#handles.delete(h);
    for (const [id, list] of this.#bySession) {
      const alive = list.filter((h) => this.#handles.has(h));
      if (alive.length) this.#bySession.set(id, alive);
      else this.#bySession.delete(id);
    }
  }
}
