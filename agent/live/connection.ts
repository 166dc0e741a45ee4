import { setTimeout as sleep } from 'node:timers/promises';
import type { GoogleGenAI } from '@google/genai';
import type { Logger } from '../log.ts';
import { connectFailure } from './client.ts';
import { LiveFatalError, redact } from './errors.ts';
import type { LiveInput } from './input.ts';
import {
  type ConnectOptions,
  connectLive,
  type LiveServerMessage,
  parseConnectError,
  type Session,
} from './sdk-adapter.ts';

/** One WebSocket of a Live session (a session outlives many of them). */
export interface Connection {
  id: number;
  session: Session;
  /** Client messages sent on this connection; setup is message 0. */
  sent: number;
  /**
   * The largest input sent on it. Should the service close it with 1009, this is one it refused:
   * everything it accepted was at most its limit, and the input it refused was above.
   */
  largest: LiveInput | undefined;
  /** Resolves once the socket has closed (either side closed it). */
  closed: Promise<void>;
}

/** Options of {@link openConnection}: those of {@link connectLive}, whose callbacks get the connection. */
export interface OpenConnectionOptions
  extends Pick<ConnectOptions, 'model' | 'config' | 'timeoutMs' | 'signal' | 'setupExtras'> {
  ai: GoogleGenAI;
  id: number;
  /** Vertex AI: credential failures are told apart from connection failures. */
  vertex: boolean;
  onMessage(conn: Connection, m: LiveServerMessage): void;
  onClose(conn: Connection, code: number, reason: string): void;
}

/**
 * Opens one connection through setup. Messages that raced `setupComplete` (the SDK delivers them before
 * `connect()` resolves) come back as `early`, for the caller to handle once it has taken the
 * connection. A failure is what {@link connectFailure} makes of it: fatal, or to be retried.
 */
export async function openConnection(
  o: OpenConnectionOptions,
): Promise<{ conn: Connection; early: LiveServerMessage[] }> {
  let conn: Connection | undefined;
  const early: LiveServerMessage[] = [];
  let session: Session;
  let setClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    setClosed = resolve;
  });
  try {
    session = await connectLive(o.ai, {
      model: o.model,
      config: o.config,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      ...(o.setupExtras && { setupExtras: o.setupExtras }),
      onmessage: (m) => {
        if (conn) o.onMessage(conn, m);
        else early.push(m);
      },
      onclose: (code, reason) => {
        setClosed();
        if (conn) o.onClose(conn, code, reason);
      },
    });
  } catch (err) {
    throw connectFailure(err, { vertex: o.vertex });
  }
  conn = { id: o.id, session, sent: 0, largest: undefined, closed };
  return { conn, early };
}

/** Options of {@link connectWithRetry}. */
export interface RetryOptions {
  /** One attempt: open a connection and take it. */
  open(): Promise<void>;
  /** The session was closed meanwhile: stop quietly. */
  closed(): boolean;
  /**
   * A setup closed with `code` while resuming may just mean the service will not resume the handle
   * (1007, 1008 or 1011, see `LiveSessionOptions.resumeHandle`): forget it and say whether one fresh
   * start should follow (once per call, and only when there was a handle).
   */
  handleRejected(code: number): boolean;
  fail(err: LiveFatalError): void;
  /** Another attempt `attempt` follows after back-off. */
  retrying(attempt: number): void;
  maxAttempts: number;
  backoffMs: number;
  signal: AbortSignal;
  log: Logger;
}

/**
 * Connects, retrying transient failures with exponential back-off (≤ 5 s) up to `maxAttempts`; a fatal
 * failure (bad key, model, quota) ends it at once, reported through `fail` and thrown.
 */
export async function connectWithRetry(o: RetryOptions): Promise<void> {
  let freshStarted = false;
  for (let attempt = 1; ; attempt++) {
    if (o.closed()) return;
    try {
      await o.open();
      return;
    } catch (err) {
      // The session may have been closed while we awaited.
      if (o.closed()) return;
      const code = err instanceof LiveFatalError ? err.code : parseConnectError(err).code;
      if (code !== undefined && !freshStarted && o.handleRejected(code)) {
        freshStarted = true;
        o.log.warn({ code }, 'live: resumption handle rejected, starting a fresh session');
        continue;
      }
      if (err instanceof LiveFatalError) {
        o.fail(err);
        throw err;
      }
      const text = redact(String((err as Error).message ?? err));
      if (attempt >= o.maxAttempts) {
        const fatal = new LiveFatalError(
          'unavailable',
          `Gemini Live unreachable after ${attempt} attempts: ${text}`,
        );
        o.fail(fatal);
        throw fatal;
      }
      const backoff = Math.min(o.backoffMs * 2 ** (attempt - 1), 5000);
      o.log.warn({ attempt, backoff, err: text }, 'live: connect failed, retrying');
      o.retrying(attempt + 1);
      await sleep(backoff, undefined, { signal: o.signal }).catch(() => {});
    }
  }
}
