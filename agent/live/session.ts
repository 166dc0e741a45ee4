import { EventEmitter } from 'node:events';
import type {
  FunctionCall,
  FunctionResponse,
  GoogleGenAI,
  LiveConnectConfig,
  UsageMetadata,
} from '@google/genai';
import { base64ToPcm16, parsePcmMimeType, pcm16ToBase64 } from '../../shared/audio/pcm.ts';
import { type Logger, silentLogger } from '../log.ts';
import { CLOSE_POLICY, classifyClose, LiveFatalError, redact } from './errors.ts';
import { asksForReply, type LiveInput } from './input.ts';
import { ReplayLog } from './replay-log.ts';
import {
  closeSession,
  connectLive,
  createClient,
  type LiveServerMessage,
  parseConnectError,
  type Session,
  sendInput,
  socketOpen,
} from './sdk-adapter.ts';

/** Options of a {@link LiveSession}. */
export interface LiveSessionOptions {
  /** Gemini API key or ephemeral token. Never logged. */
  apiKey: string;
  /** Alternative endpoint (the local emulator); the SDK also reads `GOOGLE_GEMINI_BASE_URL`. */
  baseUrl?: string;
  /** API version segment of the socket URL; the SDK default when unset. */
  apiVersion?: string;
  /** Live model id. */
  model: string;
  /** Setup sent on every connection; `sessionResumption` in it turns on handle tracking and replay. */
  config: LiveConnectConfig;
  /** Aborting closes the session, like {@link LiveSession.aclose}. */
  signal?: AbortSignal;
  /** Longest wait for `setupComplete` on one connection attempt, ms (default 15 000). */
  connectTimeoutMs?: number;
  /** Reconnect attempts after a dropped connection before giving up (default 6). */
  maxReconnectAttempts?: number;
  /** First reconnect back-off, doubled per attempt up to 5 s, ms (default 250). */
  reconnectBackoffMs?: number;
  /** Most input audio kept for replay (since the last resumption handle plus any gap), ms (default 120 000). */
  maxReplayMs?: number;
  /** How long after `goAway` a reply in progress may finish before migrating anyway, as a share of `timeLeft` (default 0.5). */
  goAwayGrace?: number;
  logger?: Logger;
}

/** Events of a {@link LiveSession}. */
export type LiveSessionEvents = {
  /** A connection completed setup. `resumed` when it continued the previous context via a handle. */
  ready: [info: { resumed: boolean; connection: number }];
  /** Model speech, PCM16 mono. */
  audio: [pcm: Int16Array, sampleRate: number];
  /** Model text parts (text modality). */
  text: [text: string];
  inputTranscription: [text: string];
  outputTranscription: [text: string];
  /** The user barged in: drop queued speech. */
  interrupted: [];
  generationComplete: [];
  turnComplete: [];
  toolCall: [calls: FunctionCall[]];
  toolCallCancellation: [ids: string[]];
  usage: [usage: UsageMetadata];
  /** The server announced the end of this connection; migration follows. */
  goAway: [timeLeftMs: number | undefined];
  /** A connection is being replaced. */
  reconnecting: [info: { reason: 'goAway' | 'closed'; code?: number; attempt: number }];
  /** A reconnect could not resume (no or rejected handle): the model starts from a blank context. */
  contextLost: [];
  /** The session cannot continue; no exception escapes, this is the only report. */
  fatal: [error: LiveFatalError];
  /** The session ended (after `aclose`, abort or a fatal error). */
  closed: [];
};

/** Counters for tests, load reporting and logs. */
export interface LiveSessionStats {
  /** Connections that completed setup. */
  connections: number;
  /** Connections replaced after goAway or a drop. */
  reconnects: number;
  /** Input audio samples handed to a socket (replays count again). */
  sentAudioSamples: number;
  /** Input audio samples accepted from the caller. */
  inputAudioSamples: number;
  /** Messages re-sent on a new connection. */
  replayedMessages: number;
  /** Input samples dropped because the replay buffer overflowed. */
  droppedAudioSamples: number;
}

interface Connection {
  id: number;
  session: Session;
  /** Client messages sent on this connection; setup is message 0. */
  sent: number;
}

type State = 'idle' | 'connecting' | 'open' | 'migrating' | 'reconnecting' | 'closed';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

function parseDuration(d: string | undefined): number | undefined {
  if (!d) return undefined;
  const m = /^([\d.]+)s$/.exec(d);
  return m ? Number(m[1]) * 1000 : undefined;
}

/**
 * One conversation with Gemini Live that survives its connections: it tracks the resumption handle,
 * migrates to a new connection on `goAway` (after the reply in progress), reconnects after abnormal
 * closes, and buffers input while no connection is usable so that every input message reaches the model
 * — replaying, on the new connection, what the old one had not yet folded into its latest handle. The
 * chat context itself is never replayed: the handle carries it.
 */
export class LiveSession extends EventEmitter<LiveSessionEvents> {
  readonly #opts: Required<Omit<LiveSessionOptions, 'signal' | 'baseUrl' | 'apiVersion'>> &
    Pick<LiveSessionOptions, 'baseUrl' | 'apiVersion'>;
  readonly #ai: GoogleGenAI;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #resumable: boolean;
  #state: State = 'idle';
  #conn: Connection | undefined;
  #retired = new Set<Connection>();
  #connCounter = 0;
  #handle: string | undefined;
  /** Input the model may not have yet, for the next connection. */
  readonly #replay: ReplayLog;
  #generating = false;
  /** Input that asks for a reply went out (text, activityEnd, heard speech) and no turn ended since. */
  #awaitingReply = false;
  /** The server's last word on whether the session could be resumed right now. */
  #serverResumable = true;
  #toolCallsPending = 0;
  #migrateWhenIdle = false;
  /** Migrate after `goAway` even if a reply is still running. */
  #migrateTimer: NodeJS.Timeout | undefined;
  /** Short wait for the post-turn handle before migrating. */
  #settleTimer: NodeJS.Timeout | undefined;
  #startPromise: Promise<void> | undefined;
  #stats: LiveSessionStats = {
    connections: 0,
    reconnects: 0,
    sentAudioSamples: 0,
    inputAudioSamples: 0,
    replayedMessages: 0,
    droppedAudioSamples: 0,
  };

  constructor(options: LiveSessionOptions) {
    super();
    this.#opts = {
      connectTimeoutMs: 15_000,
      maxReconnectAttempts: 6,
      reconnectBackoffMs: 250,
      maxReplayMs: 120_000,
      goAwayGrace: 0.5,
      logger: silentLogger,
      ...options,
    };
    this.#log = this.#opts.logger;
    this.#replay = new ReplayLog(this.#opts.maxReplayMs);
    this.#resumable = options.config.sessionResumption !== undefined;
    this.#ai = createClient(options);
    if (options.signal) {
      if (options.signal.aborted) this.#state = 'closed';
      else options.signal.addEventListener('abort', () => void this.aclose(), { once: true });
    }
  }

  get stats(): Readonly<LiveSessionStats> {
    return { ...this.#stats };
  }

  /** Latest resumption handle, if the server sent one. */
  get handle(): string | undefined {
    return this.#handle;
  }

  get state(): State {
    return this.#state;
  }

  /** True while the model is producing a reply. */
  get generating(): boolean {
    return this.#generating;
  }

  /**
   * Opens the first connection. Resolves once setup completed; rejects with {@link LiveFatalError} (also
   * emitted as `fatal`) when the key, model or quota make the session impossible. Transient failures
   * are retried like a dropped connection.
   */
  start(): Promise<void> {
    this.#startPromise ??= this.#run();
    return this.#startPromise;
  }

  async #run(): Promise<void> {
    if (this.#state === 'closed') throw new LiveFatalError('unavailable', 'session closed before start');
    this.#state = 'connecting';
    await this.#connectWithRetry('closed', undefined);
  }

  /** Input audio, PCM16 mono. Buffered (never dropped) while the connection is being replaced. */
  sendAudio(pcm: Int16Array, sampleRate = 16000): void {
    if (this.#state === 'closed' || pcm.length === 0) return;
    this.#stats.inputAudioSamples += pcm.length;
    const data = pcm16ToBase64(pcm);
    this.#submit({
      kind: 'audio',
      data,
      mimeType: `audio/pcm;rate=${sampleRate}`,
      samples: pcm.length,
      ms: (pcm.length * 1000) / sampleRate,
    });
  }

  /** One video frame (JPEG or PNG). Only the newest frame waits through a reconnect. */
  sendVideo(image: Uint8Array, mimeType = 'image/jpeg'): void {
    if (this.#state === 'closed') return;
    const data = Buffer.from(image.buffer, image.byteOffset, image.byteLength).toString('base64');
    if (!this.#conn) this.#replay.dropHeld('video');
    this.#submit({ kind: 'video', data, mimeType });
  }

  /** Text the model should answer, as realtime input (the native-audio models' way to take text). */
  sendText(text: string): void {
    if (this.#state === 'closed') return;
    this.#submit({ kind: 'text', text });
  }

  /**
   * A user turn in the conversation context. With `turnComplete: false` it only informs the model
   * (joins, leaves, who is speaking) without asking for a reply.
   */
  sendContext(text: string, turnComplete = false): void {
    if (this.#state === 'closed') return;
    this.#submit({ kind: 'content', text, turnComplete });
  }

  /** Manual activity detection (push-to-talk): the user started talking. */
  activityStart(): void {
    if (this.#state !== 'closed') this.#submit({ kind: 'activityStart' });
  }

  /** Manual activity detection (push-to-talk): the user stopped talking. */
  activityEnd(): void {
    if (this.#state !== 'closed') this.#submit({ kind: 'activityEnd' });
  }

  sendToolResponse(responses: FunctionResponse[]): void {
    if (this.#state === 'closed' || responses.length === 0) return;
    this.#toolCallsPending = Math.max(0, this.#toolCallsPending - responses.length);
    this.#submit({ kind: 'toolResponse', responses });
    this.#maybeMigrate();
  }

  /** Ends the session: closes every connection and clears every timer. Idempotent. */
  async aclose(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#abort.abort();
    clearTimeout(this.#migrateTimer);
    clearTimeout(this.#settleTimer);
    const conns = [...this.#retired, ...(this.#conn ? [this.#conn] : [])];
    this.#conn = undefined;
    this.#retired.clear();
    this.#replay.clear();
    for (const c of conns) this.#closeConn(c);
    this.emit('closed');
  }

  // --- sending -------------------------------------------------------------------------------

  #submit(msg: LiveInput): void {
    if (asksForReply(msg)) this.#awaitingReply = true;
    const conn = this.#conn;
    if (conn && this.#state === 'open' && socketOpen(conn.session)) {
      this.#sendOn(conn, msg);
    } else {
      this.#replay.push(msg);
    }
    const dropped = this.#replay.bound();
    if (dropped) {
      this.#stats.droppedAudioSamples += dropped;
      this.#log.warn({ dropped }, 'live: replay buffer full, oldest input audio dropped');
    }
  }

  #sendOn(conn: Connection, msg: LiveInput): void {
    sendInput(conn.session, msg);
    if (msg.kind === 'audio') this.#stats.sentAudioSamples += msg.samples;
    conn.sent += 1;
    if (this.#resumable) this.#replay.push(msg, conn.sent);
  }

  // --- connections ---------------------------------------------------------------------------

  async #connectWithRetry(reason: 'goAway' | 'closed', code: number | undefined): Promise<void> {
    let handleRejected = false;
    for (let attempt = 1; ; attempt++) {
      if (this.#state === 'closed') return;
      try {
        await this.#open();
        return;
      } catch (err) {
        // aclose() may have run while we awaited.
        if ((this.#state as State) === 'closed') return;
        if (err instanceof LiveFatalError) {
          // A 1008 on a resume may just mean the handle expired: one fresh start before giving up.
          if (err.code === CLOSE_POLICY && this.#handle && !handleRejected) {
            handleRejected = true;
            this.#log.warn('live: resumption handle rejected, starting a fresh session');
            this.#handle = undefined;
            this.#replay.forgetSent();
            this.emit('contextLost');
            continue;
          }
          this.#fail(err);
          throw err;
        }
        if (attempt >= this.#opts.maxReconnectAttempts) {
          const fatal = new LiveFatalError(
            'unavailable',
            `Gemini Live unreachable after ${attempt} attempts: ${redact(String((err as Error).message ?? err))}`,
          );
          this.#fail(fatal);
          throw fatal;
        }
        const backoff = Math.min(this.#opts.reconnectBackoffMs * 2 ** (attempt - 1), 5000);
        this.#log.warn(
          { attempt, backoff, err: redact(String((err as Error).message ?? err)) },
          'live: connect failed, retrying',
        );
        this.emit('reconnecting', { reason, ...(code !== undefined && { code }), attempt: attempt + 1 });
        await sleep(backoff, this.#abort.signal);
      }
    }
  }

  async #open(): Promise<void> {
    const id = ++this.#connCounter;
    const config: LiveConnectConfig = { ...this.#opts.config };
    const resumed = this.#resumable && this.#handle !== undefined;
    if (this.#resumable) config.sessionResumption = { ...config.sessionResumption, handle: this.#handle };
    let conn: Connection | undefined;
    const early: LiveServerMessage[] = [];
    let session: Session;
    try {
      session = await connectLive(this.#ai, {
        model: this.#opts.model,
        config,
        timeoutMs: this.#opts.connectTimeoutMs,
        signal: this.#abort.signal,
        onmessage: (m) => {
          // The SDK delivers messages that raced setupComplete before connect() resolves.
          if (conn) this.#onMessage(conn, m);
          else early.push(m);
        },
        onclose: (code, reason) => {
          if (conn) this.#onClose(conn, code, reason);
        },
      });
    } catch (err) {
      const { code, reason } = parseConnectError(err);
      if (code !== undefined) {
        const verdict = classifyClose(code, reason);
        if (!verdict.retry) throw verdict.error;
      }
      throw err;
    }
    if (this.#state === 'closed') {
      session.close();
      return;
    }
    conn = { id, session, sent: 0 };
    this.#stats.connections += 1;
    const previous = this.#conn;
    this.#conn = conn;
    this.#state = 'open';
    this.#generating = false;
    this.#serverResumable = true;
    // What the handle did not cover, then what arrived during the gap, in their original order.
    const replay = this.#replay.drain(resumed);
    for (const msg of replay) this.#sendOn(conn, msg);
    this.#stats.replayedMessages += replay.length;
    if (previous) this.#retire(previous);
    for (const old of this.#retired) this.#closeConn(old);
    this.#retired.clear();
    this.#log.info({ connection: id, resumed, replayed: replay.length }, 'live: session ready');
    this.emit('ready', { resumed, connection: id });
    // Handles issued before the replay arrived do not cover it: keep the handle, keep the replay log.
    for (const m of early) this.#onMessage(conn, m, { trim: false });
  }

  #closeConn(c: Connection): void {
    closeSession(c.session);
  }

  #retire(c: Connection): void {
    this.#retired.add(c);
  }

  #fail(err: LiveFatalError): void {
    if (this.#state === 'closed') return;
    this.#log.error({ kind: err.kind, code: err.code }, `live: ${err.message}`);
    this.emit('fatal', err);
    void this.aclose();
  }

  #onClose(conn: Connection, code: number, reason: string): void {
    if (this.#retired.has(conn)) {
      this.#retired.delete(conn);
      return;
    }
    if (conn !== this.#conn || this.#state === 'closed') return;
    this.#conn = undefined;
    // Messages the dead socket had not acknowledged through a handle go out again on the next one.
    const verdict = classifyClose(code, reason);
    if (!verdict.retry && !(code === CLOSE_POLICY && this.#handle)) {
      this.#fail(verdict.error);
      return;
    }
    if (this.#state === 'migrating') return; // the migration's own connect is under way
    this.#log.warn({ code, reason: redact(reason) }, 'live: connection dropped, resuming');
    this.#stats.reconnects += 1;
    this.#state = 'reconnecting';
    this.emit('reconnecting', { reason: 'closed', code, attempt: 1 });
    this.#connectWithRetry('closed', code).catch(() => {});
  }

  /** Replaces the connection after `goAway`: input waits in the buffer while the new one sets up. */
  #migrate(): void {
    clearTimeout(this.#migrateTimer);
    clearTimeout(this.#settleTimer);
    if (this.#state !== 'open' || !this.#conn) return;
    this.#migrateWhenIdle = false;
    const old = this.#conn;
    this.#conn = undefined;
    this.#retire(old);
    if (this.#generating) {
      // The grace period ran out mid-reply: what is queued of it would never be finished.
      this.#generating = false;
      this.emit('interrupted');
    }
    this.#state = 'migrating';
    this.#stats.reconnects += 1;
    this.emit('reconnecting', { reason: 'goAway', attempt: 1 });
    this.#connectWithRetry('goAway', undefined).catch(() => {});
  }

  #maybeMigrate(): void {
    if (this.#migrateWhenIdle && !this.#busy()) this.#migrate();
  }

  /** A reply is running or expected: migrating now would cut it or make the new connection redo it. */
  #busy(): boolean {
    return this.#generating || this.#awaitingReply || this.#toolCallsPending > 0 || !this.#serverResumable;
  }

  #onMessage(conn: Connection, m: LiveServerMessage, opts: { trim: boolean } = { trim: true }): void {
    if (conn !== this.#conn) return; // a retired connection's late output would duplicate or cut in
    const sc = m.serverContent;
    if (sc) {
      for (const part of sc.modelTurn?.parts ?? []) {
        if (part.inlineData?.data && part.inlineData.mimeType?.startsWith('audio/')) {
          this.#generating = true;
          const pcm = base64ToPcm16(part.inlineData.data);
          this.emit('audio', pcm, parsePcmMimeType(part.inlineData.mimeType, 24000) ?? 24000);
        } else if (part.text && !part.thought) {
          this.#generating = true;
          this.emit('text', part.text);
        }
      }
      if (sc.inputTranscription?.text) {
        this.#awaitingReply = true;
        this.emit('inputTranscription', sc.inputTranscription.text);
      }
      if (sc.outputTranscription?.text) this.emit('outputTranscription', sc.outputTranscription.text);
      if (sc.interrupted) {
        this.#generating = false;
        this.#awaitingReply = false;
        this.emit('interrupted');
      }
      if (sc.generationComplete) this.emit('generationComplete');
      if (sc.turnComplete) {
        this.#generating = false;
        this.#awaitingReply = false;
        this.emit('turnComplete');
      }
    }
    if (m.toolCall?.functionCalls?.length) {
      this.#toolCallsPending += m.toolCall.functionCalls.length;
      this.emit('toolCall', m.toolCall.functionCalls);
    }
    if (m.toolCallCancellation?.ids?.length) {
      this.#toolCallsPending = Math.max(0, this.#toolCallsPending - m.toolCallCancellation.ids.length);
      this.emit('toolCallCancellation', m.toolCallCancellation.ids);
    }
    if (m.usageMetadata) this.emit('usage', m.usageMetadata);
    const upd = m.sessionResumptionUpdate;
    if (upd && opts.trim) this.#serverResumable = upd.resumable === true;
    if (upd?.resumable && upd.newHandle) {
      this.#handle = upd.newHandle;
      const last = upd.lastConsumedClientMessageIndex;
      if (!opts.trim) {
        // Issued before our replay reached the server.
      } else if (last !== undefined && last !== null && last !== '') {
        this.#replay.acknowledge(Number(last));
      } else {
        this.#replay.acknowledge();
      }
    }
    if (m.goAway) {
      const left = parseDuration(m.goAway.timeLeft as string | undefined);
      this.#log.info({ timeLeftMs: left }, 'live: goAway');
      this.emit('goAway', left);
      this.#migrateWhenIdle = true;
      const grace = Math.max(0, (left ?? 10_000) * this.#opts.goAwayGrace);
      this.#migrateTimer = setTimeout(() => this.#migrate(), grace);
    }
    // After a turn, the handle update usually rides right behind turnComplete; migrate on it.
    if (this.#migrateWhenIdle && (upd || m.goAway || (sc?.turnComplete && !this.#resumable)))
      this.#maybeMigrate();
    if (this.#migrateWhenIdle && sc?.turnComplete && this.#resumable) {
      clearTimeout(this.#settleTimer);
      // Give the post-turn handle a moment; migrate regardless if it does not come.
      this.#settleTimer = setTimeout(() => this.#maybeMigrate(), 300);
    }
  }
}
