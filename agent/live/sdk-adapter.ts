/**
 * Everything the Live session needs from `@google/genai`, and the only file that relies on what the SDK
 * does not promise. Checked against @google/genai 3.6.1; on an upgrade re-check the two internals below
 * (test/agent-live.test.ts exercises both through the real SDK):
 *
 * - Whether a session's socket is open. `Session.conn` is the SDK's socket wrapper, whose private `ws`
 *   field holds the `ws` WebSocket (Node). `ws` silently discards data sent while closing, and the SDK
 *   sends anyway, so without this look the session could not tell sent input from lost input.
 *   An unknown shape reads as open: the behaviour of the SDK alone.
 * - The close code of a connect that failed during setup. `live.connect()` rejects with a plain Error
 *   whose only carrier of the code is its text, "Live connection closed before setup completed (code N):
 *   reason". Unparsed text yields no code, which the session treats as transient and retries.
 * - Setup fields `live.connect()` drops. It rebuilds the setup frame from a fixed list of config fields
 *   that lacks `historyConfig` (3.6.1, and 2.32.0 alike; googleapis/js-genai#1520), which 3.x models need
 *   to take seeded history. `ai.live.webSocketFactory` (a public field in JS, private in the typings)
 *   creates the socket; its first send is the setup frame, which {@link ConnectOptions.setupExtras}
 *   are merged into (livekit/agents-js does the same, plugins/google/src/realtime/live_setup.ts).
 */
import { GoogleGenAI, type LiveConnectConfig, type LiveServerMessage, type Session } from '@google/genai';
import { LiveFatalError } from './errors.ts';
import type { LiveInput } from './input.ts';

export type { LiveServerMessage, Session };

/** A Gemini client for `live.connect`. */
export function createClient(options: {
  apiKey: string;
  baseUrl?: string;
  apiVersion?: string;
}): GoogleGenAI {
  const httpOptions: { baseUrl?: string; apiVersion?: string } = {};
  if (options.baseUrl) httpOptions.baseUrl = options.baseUrl;
  if (options.apiVersion) httpOptions.apiVersion = options.apiVersion;
  return new GoogleGenAI({ apiKey: options.apiKey, httpOptions });
}

/** What {@link connectLive} needs for one connection attempt. */
export interface ConnectOptions {
  model: string;
  config: LiveConnectConfig;
  /** Longest wait for `setupComplete`, ms. */
  timeoutMs: number;
  /** Aborting gives up the attempt. */
  signal: AbortSignal;
  /** Every server message, including those the SDK queued before `setupComplete` resolved `connect()`. */
  onmessage: (m: LiveServerMessage) => void;
  /** The socket ended (after setup; a close during setup rejects the returned promise instead). */
  onclose: (code: number, reason: string) => void;
  /** Fields merged into the wire `setup` that `live.connect()` would drop (`historyConfig`). */
  setupExtras?: Record<string, unknown>;
}

interface SdkSocket {
  send(message: string): void;
}
interface SdkSocketFactory {
  create(...args: unknown[]): SdkSocket;
}

/**
 * Makes the next socket `ai.live.connect()` creates merge `extras` into its setup frame (its first
 * send). Returns the undo (the factory is itself again: call it once connect() has settled), or
 * undefined when the SDK has no socket factory to wrap.
 */
export function spliceSetup(ai: GoogleGenAI, extras: Record<string, unknown>): (() => void) | undefined {
  const factory = (ai.live as unknown as { webSocketFactory?: SdkSocketFactory }).webSocketFactory;
  if (typeof factory?.create !== 'function') return undefined;
  const own = Object.hasOwn(factory, 'create');
  const create = factory.create;
  const undo = () => {
    if (own) factory.create = create;
    else delete (factory as Partial<SdkSocketFactory>).create;
  };
  factory.create = (...args: unknown[]) => {
    undo();
    const socket = create.apply(factory, args);
    const send = socket.send.bind(socket);
    socket.send = (message: string) => {
      socket.send = send;
      const frame = JSON.parse(message) as { setup?: Record<string, unknown> };
      if (frame.setup) frame.setup = { ...frame.setup, ...extras };
      send(JSON.stringify(frame));
    };
    return socket;
  };
  return undo;
}

/**
 * Opens one Live connection and resolves once setup completed. Rejects on timeout, abort or a close
 * during setup ({@link parseConnectError} reads the code); a late `setupComplete` after a rejection closes
 * the socket it would have left behind.
 */
export async function connectLive(ai: GoogleGenAI, o: ConnectOptions): Promise<Session> {
  const undo = o.setupExtras ? spliceSetup(ai, o.setupExtras) : () => {};
  if (undo === undefined) {
    throw new LiveFatalError(
      'invalid',
      '@google/genai has no live.webSocketFactory: the setup cannot carry historyConfig (see sdk-adapter.ts)',
    );
  }
  const connecting = ai.live.connect({
    model: o.model,
    config: o.config,
    callbacks: {
      onmessage: o.onmessage,
      onerror: () => {
        // The close that follows carries the code; connect() rejects with it during setup.
      },
      onclose: (e: CloseEvent) => o.onclose(e.code, e.reason),
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no setupComplete within ${o.timeoutMs} ms`)), o.timeoutMs);
  });
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('aborted'));
    o.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    return await Promise.race([connecting, timeout, aborted]);
  } catch (err) {
    connecting.then((s) => s.close()).catch(() => {});
    throw err;
  } finally {
    undo();
    clearTimeout(timer);
    o.signal.removeEventListener('abort', onAbort);
  }
}

/** Sending on a closing `ws` socket silently discards the data; we must know before we send. */
export function socketOpen(session: Session): boolean {
  const ws = (session.conn as unknown as { ws?: { readyState: number } }).ws;
  return ws ? ws.readyState === 1 : true;
}

/** Closes a connection; closing one that already ended is not an error. */
export function closeSession(session: Session): void {
  try {
    session.close();
  } catch {
    // Already closed.
  }
}

/** Extracts the close code from the SDK's "closed before setup completed (code N): reason" rejection. */
export function parseConnectError(err: unknown): { code: number | undefined; reason: string } {
  const message = err instanceof Error ? err.message : String(err);
  const m = /\(code (\d+)\):\s*(.*)$/s.exec(message);
  if (m) return { code: Number(m[1]), reason: m[2] ?? '' };
  return { code: undefined, reason: message };
}

/** Puts one input on the wire through the SDK's public send calls. */
export function sendInput(s: Session, msg: LiveInput): void {
  switch (msg.kind) {
    case 'audio':
      s.sendRealtimeInput({ audio: { data: msg.data, mimeType: msg.mimeType } });
      break;
    case 'video':
      s.sendRealtimeInput({ video: { data: msg.data, mimeType: msg.mimeType } });
      break;
    case 'text':
      s.sendRealtimeInput({ text: msg.text });
      break;
    case 'content':
      s.sendClientContent({
        turns: [{ role: 'user', parts: [{ text: msg.text }] }],
        turnComplete: msg.turnComplete,
      });
      break;
    case 'history':
      s.sendClientContent({
        turns: msg.turns.map((t) => ({ role: t.role, parts: [{ text: t.text }] })),
        turnComplete: msg.turnComplete,
      });
      break;
    case 'activityStart':
      s.sendRealtimeInput({ activityStart: {} });
      break;
    case 'activityEnd':
      s.sendRealtimeInput({ activityEnd: {} });
      break;
    case 'toolResponse':
      s.sendToolResponse({ functionResponses: msg.responses });
      break;
  }
}
