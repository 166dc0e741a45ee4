import { EventEmitter } from 'node:events';
import type { FunctionResponse, GoogleGenAI, LiveConnectConfig } from '@google/genai';
import { LIVE_INPUT_RATE } from '../../shared/audio/rates.ts';
import { type ClientContentSpec, liveModel } from '../../shared/gemini-models/index.ts';
import { type Logger, silentLogger } from '../log.ts';
import { catchUpInput, unanswered } from './catch-up.ts';
import { liveClient } from './client.ts';
import { type Connection, connectWithRetry, openConnection } from './connection.ts';
import { ContextHold } from './context-hold.ts';
import { decodeServerMessage, emitEvent } from './decode.ts';
import {
  CLOSE_INTERNAL,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
  classifyClose,
  handleRefusal,
  LiveFatalError,
  redact,
} from './errors.ts';
import { GoAwayTiming } from './goaway-timing.ts';
import {
  activityInput,
  audioInput,
  contentInput,
  DEFAULT_MAX_MESSAGE_BYTES,
  type HistoryTurn,
  historyInput,
  type LiveInput,
  textInput,
  toolResponseInput,
  videoInput,
} from './input.ts';
import { ReplayLog } from './replay-log.ts';
import { ReplyState } from './reply-state.ts';
import { closeSession, type LiveServerMessage, sendInput, socketOpen } from './sdk-adapter.ts';
import type { LiveSessionEvents, LiveSessionOptions, LiveSessionState, LiveSessionStats } from './types.ts';

export type { LiveInputKind, LiveInputRefusal } from './input.ts';
export type { LiveSessionEvents, LiveSessionOptions, LiveSessionState, LiveSessionStats } from './types.ts';

/**
 * Longest wait for the old connection's close before a `goAway` migration resumes, ms: the service
 * refuses a resume while another connection of the session is open.
 */
const MIGRATE_CLOSE_WAIT_MS = 2000;

/**
 * One conversation with Gemini Live that survives its connections: it tracks the resumption handle,
 * migrates to a new connection on `goAway` (after the reply in progress), reconnects after abnormal
 * closes, and buffers input while no connection is usable so that every input message reaches the model
 * — replaying, on the new connection, what the old one had not yet folded into its latest handle. The
 * chat context itself is never replayed: the handle carries it.
 */
export class LiveSession extends EventEmitter<LiveSessionEvents> {
  readonly #opts: Required<
    Omit<
      LiveSessionOptions,
      | 'signal'
      | 'baseUrl'
      | 'apiVersion'
      | 'apiKey'
      | 'vertex'
      | 'resumeHandle'
      | 'seed'
      | 'reseed'
      | 'catchUp'
      | 'answerCatchUp'
    >
  > &
    Pick<LiveSessionOptions, 'baseUrl' | 'apiVersion' | 'apiKey' | 'vertex' | 'reseed' | 'answerCatchUp'>;
  /** Made on the first connect (Vertex reads its credentials file then) and kept: it caches the token. */
  #ai: Promise<GoogleGenAI> | undefined;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #resumable: boolean;
  #state: LiveSessionState = 'idle';
  #conn: Connection | undefined;
  #connCounter = 0;
  #handle: string | undefined;
  /** 1011s at setup while resuming since the last connection came up (the second refuses the handle). */
  #internalRefusals = 0;
  /** Turns for the next fresh connection (`seed`, or `reseed()` after a refused handle); cleared once up. */
  #seed: HistoryTurn[] | undefined;
  /** Turns after the resume handle, for the first connection if it resumes with it; cleared once up. */
  #catchUp: HistoryTurn[] | undefined;
  /** Seeded history must be declared in the setup (`historyConfig`) and end with `turnComplete` (3.x). */
  readonly #declareHistory: boolean;
  /** What `clientContent` the model takes when (the catalogue's rule). */
  readonly #clientContent: ClientContentSpec;
  /** Input the model may not have yet, for the next connection. */
  readonly #replay: ReplayLog;
  readonly #reply = new ReplyState();
  readonly #goAway: GoAwayTiming;
  /** Context waiting for the model to be between replies (see {@link LiveSession.sendContext}). */
  readonly #context: ContextHold;
  #startPromise: Promise<void> | undefined;
  #stats: LiveSessionStats = {
    connections: 0,
    reconnects: 0,
    sentAudioSamples: 0,
    inputAudioSamples: 0,
    replayedMessages: 0,
    droppedAudioSamples: 0,
    refusedInputs: 0,
  };
  /** Largest message to send: `maxMessageBytes`, lowered below any size the service refused. */
  #maxBytes: number;

  constructor(options: LiveSessionOptions) {
    super();
    this.#opts = {
      connectTimeoutMs: 15_000,
      maxReconnectAttempts: 6,
      reconnectBackoffMs: 250,
      maxReplayMs: 120_000,
      goAwayGrace: 0.5,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      logger: silentLogger,
      ...options,
    };
    this.#log = this.#opts.logger;
    this.#replay = new ReplayLog(this.#opts.maxReplayMs);
    this.#maxBytes = this.#opts.maxMessageBytes;
    this.#resumable = options.config.sessionResumption !== undefined;
    const spec = liveModel(options.model, options.vertex ? 'vertex' : 'gemini');
    this.#context = new ContextHold(spec.clientContent.interrupts === 'turnComplete');
    this.#declareHistory = spec.clientContent.history === 'historyConfig';
    this.#clientContent = spec.clientContent;
    if (this.#resumable && options.resumeHandle) this.#handle = options.resumeHandle;
    if (options.seed?.length) this.#seed = options.seed;
    if (this.#handle && options.catchUp?.length) this.#catchUp = options.catchUp;
    this.#goAway = new GoAwayTiming({
      grace: this.#opts.goAwayGrace,
      resumable: this.#resumable,
      busy: () => this.#reply.busy,
      migrate: () => this.#migrate(),
    });
    if (!options.vertex && !options.apiKey)
      throw new TypeError('LiveSession needs an apiKey or vertex options');
    if (options.signal) {
      if (options.signal.aborted) this.#state = 'closed';
      else options.signal.addEventListener('abort', () => void this.aclose(), { once: true });
    }
  }

  /**
   * Before `start()`: where the session begins, replacing `resumeHandle`, `seed` and `catchUp` of the
   * options (a hand-off learns the final handle only once the old job has closed its own connection).
   */
  resumeFrom(o: Pick<LiveSessionOptions, 'resumeHandle' | 'seed' | 'catchUp'>): void {
    if (this.#state !== 'idle') throw new Error('resumeFrom: the session has already started');
    this.#handle = this.#resumable ? o.resumeHandle : undefined;
    this.#seed = o.seed?.length ? o.seed : undefined;
    this.#catchUp = this.#handle && o.catchUp?.length ? o.catchUp : undefined;
  }

  get stats(): Readonly<LiveSessionStats> {
    return { ...this.#stats };
  }

  /** Latest resumption handle, if the server sent one. */
  get handle(): string | undefined {
    return this.#handle;
  }

  get state(): LiveSessionState {
    return this.#state;
  }

  /** True while the model is producing a reply. */
  get generating(): boolean {
    return this.#reply.generating;
  }

  /**
   * True while the model owes a reply or produces one: input that asks for one went out (text,
   * activityEnd, heard speech) and no turn answered it yet — also across the cut a text message makes.
   */
  get replyOwed(): boolean {
    return this.#reply.owed;
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

  // Every send returns false when the input will not reach the model: the session is closed, or the
  // input is too large (then `inputRefused` says so).

  /** Input audio, PCM16 mono. Buffered (never dropped) while the connection is being replaced. */
  sendAudio(pcm: Int16Array, sampleRate = LIVE_INPUT_RATE): boolean {
    if (this.#state === 'closed' || pcm.length === 0) return false;
    this.#stats.inputAudioSamples += pcm.length;
    return this.#submit(audioInput(pcm, sampleRate));
  }

  /** One video frame (JPEG or PNG). Only the newest frame waits through a reconnect. */
  sendVideo(image: Uint8Array, mimeType = 'image/jpeg'): boolean {
    if (this.#state === 'closed') return false;
    const msg = videoInput(image, mimeType);
    if (!this.#conn && msg.bytes <= this.#maxBytes) this.#replay.dropHeld('video');
    return this.#submit(msg);
  }

  /** Text the model should answer, as realtime input (the native-audio models' way to take text). */
  sendText(text: string): boolean {
    return this.#state !== 'closed' && this.#submit(textInput(text));
  }

  /**
   * Context for the model (joins, leaves, who is speaking), as a user turn of `clientContent`: held
   * while a reply runs or is awaited, then sent (several joined in one message) by the model's rule
   * (see {@link ContextHold}). With `turnComplete` given, the turn is sent at once as is.
   */
  sendContext(text: string, turnComplete?: boolean): boolean {
    if (this.#state === 'closed') return false;
    if (turnComplete !== undefined) return this.#submit(contentInput(text, turnComplete));
    const msg = this.#context.message(text);
    if (msg.bytes > this.#maxBytes) {
      this.#refuse(msg, 'client');
      return false;
    }
    this.#context.hold(text);
    this.#flushContext();
    return true;
  }

  /** Context held for later (see {@link LiveSession.sendContext}). */
  get heldContext(): number {
    return this.#context.size;
  }

  /** Manual activity detection (push-to-talk): the user started talking. */
  activityStart(): boolean {
    return this.#state !== 'closed' && this.#submit(activityInput('activityStart'));
  }

  /** Manual activity detection (push-to-talk): the user stopped talking. */
  activityEnd(): boolean {
    return this.#state !== 'closed' && this.#submit(activityInput('activityEnd'));
  }

  sendToolResponse(responses: FunctionResponse[]): boolean {
    if (this.#state === 'closed' || responses.length === 0) return false;
    this.#reply.toolResponses(responses.length);
    const sent = this.#submit(toolResponseInput(responses));
    this.#goAway.check();
    return sent;
  }

  /**
   * Replaces the tools the model may call (MCP tools that came up or changed after the session
   * started). Sent as a `contextUpdate` (`sendContextUpdate`, in order with the rest of the input) on
   * the open connection, and kept in the setup of every later connection, so a resumed or migrated
   * connection has them too. The same list again sends nothing: each update invalidates the model's
   * prefix cache. False when the session is closed or nothing changed.
   */
  updateTools(tools: NonNullable<LiveConnectConfig['tools']>): boolean {
    if (this.#state === 'closed') return false;
    if (JSON.stringify(tools) === JSON.stringify(this.#opts.config.tools ?? [])) return false;
    this.#opts.config = { ...this.#opts.config, tools };
    const conn = this.#conn;
    // Otherwise the connection under way (#open) sends it once its setup is done, if that setup was older.
    if (conn && this.#state === 'open' && socketOpen(conn.session)) this.#sendTools(conn, tools);
    return true;
  }

  /** Ends the session: closes every connection and clears every timer. Idempotent. */
  async aclose(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#abort.abort();
    this.#goAway.stop();
    const conn = this.#conn;
    this.#conn = undefined;
    this.#replay.clear();
    if (conn) this.#closeConn(conn);
    this.emit('closed');
  }

  // --- sending -------------------------------------------------------------------------------

  /** Sends the held context once the model is between replies on an open connection. */
  #flushContext(): void {
    if (!this.#context.size || this.#state !== 'open' || this.#reply.busy) return;
    for (const msg of this.#context.take(this.#maxBytes)) this.#submit(msg);
  }

  #submit(msg: LiveInput): boolean {
    if (msg.bytes > this.#maxBytes) {
      this.#refuse(msg, 'client');
      return false;
    }
    this.#reply.sent(msg);
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
    return true;
  }

  #refuse(msg: LiveInput, by: 'client' | 'service'): void {
    const limit = this.#maxBytes;
    const message =
      by === 'client'
        ? `${msg.kind} input of ${msg.bytes} bytes is over the ${limit}-byte message limit; not sent`
        : `Gemini Live refused a ${msg.kind} input of ${msg.bytes} bytes as too large (close 1009); not sent again`;
    this.#stats.refusedInputs += 1;
    this.#log.warn({ kind: msg.kind, bytes: msg.bytes, limit, by }, `live: ${message}`);
    this.emit('inputRefused', { kind: msg.kind, bytes: msg.bytes, limit, by, message });
  }

  /**
   * The service closed `conn` with 1009: one input was larger than it takes. Never send that size
   * again: it leaves the replay log (with anything as large), and later input that large is refused
   * before it is sent.
   */
  #refuseOversized(conn: Connection): void {
    const offender = conn.largest;
    if (!offender) return;
    this.#maxBytes = Math.min(this.#maxBytes, offender.bytes - 1);
    const removed = this.#replay.removeLarger(this.#maxBytes);
    // Without resumption nothing is logged for replay, but the refusal is still news.
    if (!removed.includes(offender)) removed.unshift(offender);
    for (const m of removed) this.#refuse(m, 'service');
  }

  #sendTools(conn: Connection, tools: NonNullable<LiveConnectConfig['tools']>): void {
    // The wrapper's presence is what says "replace": an empty list clears every tool.
    conn.session.sendContextUpdate({ tools: { tools } });
    // A client message like any: the service's lastConsumedIndex counts it.
    conn.sent += 1;
    this.#log.info({ connection: conn.id }, 'live: tools updated (contextUpdate)');
  }

  #sendOn(conn: Connection, msg: LiveInput): void {
    sendInput(conn.session, msg);
    if (msg.kind === 'audio') this.#stats.sentAudioSamples += msg.samples;
    conn.sent += 1;
    if (!conn.largest || msg.bytes > conn.largest.bytes) conn.largest = msg;
    if (this.#resumable) this.#replay.push(msg, conn.sent);
  }

  // --- connections ---------------------------------------------------------------------------

  #connectWithRetry(reason: 'goAway' | 'closed', code: number | undefined): Promise<void> {
    return connectWithRetry({
      open: () => this.#open(),
      closed: () => this.#state === 'closed',
      handleRejected: (code) => {
        if (!this.#handle || !handleRefusal(code)) return false;
        // An internal error may also be a passing fault: the handle gets a second try first.
        if (code === CLOSE_INTERNAL && ++this.#internalRefusals < 2) return false;
        this.#handle = undefined;
        this.#replay.forgetSent();
        const tail = this.#seed ? undefined : this.#opts.reseed?.();
        if (tail?.length) this.#seed = tail;
        this.emit('contextLost');
        return true;
      },
      fail: (err) => this.#fail(err),
      retrying: (attempt) =>
        this.emit('reconnecting', { reason, ...(code !== undefined && { code }), attempt }),
      maxAttempts: this.#opts.maxReconnectAttempts,
      backoffMs: this.#opts.reconnectBackoffMs,
      signal: this.#abort.signal,
      log: this.#log,
    });
  }

  #client(): Promise<GoogleGenAI> {
    this.#ai ??= liveClient(this.#opts);
    return this.#ai;
  }

  async #open(): Promise<void> {
    const ai = await this.#client();
    const id = ++this.#connCounter;
    const config: LiveConnectConfig = { ...this.#opts.config };
    // Kept apart: the SDK's connect() replaces `config.tools` on the object it is given.
    const setupTools = config.tools;
    const resumed = this.#resumable && this.#handle !== undefined;
    if (this.#resumable) config.sessionResumption = { ...config.sessionResumption, handle: this.#handle };
    const seed = resumed ? undefined : this.#seed;
    // Only on the connection that resumes with the handle the turns came after; a refused one is seeded.
    const catchUp = resumed ? this.#catchUp : undefined;
    const declare = seed !== undefined && this.#declareHistory;
    const { conn, early } = await openConnection({
      ai,
      id,
      model: this.#opts.model,
      config,
      timeoutMs: this.#opts.connectTimeoutMs,
      signal: this.#abort.signal,
      vertex: this.#opts.vertex !== undefined,
      ...(declare && { setupExtras: { historyConfig: { initialHistoryInClientContent: true } } }),
      onMessage: (c, m) => this.#onMessage(c, m),
      onClose: (c, closeCode, reason) => this.#onClose(c, closeCode, reason),
    });
    if (this.#state === 'closed') {
      conn.session.close();
      return;
    }
    this.#stats.connections += 1;
    const previous = this.#conn;
    this.#conn = conn;
    this.#state = 'open';
    this.#reply.connected();
    this.#internalRefusals = 0;
    this.#seed = undefined;
    this.#catchUp = undefined;
    // The earlier turns first, so that what follows is heard in their light.
    if (seed) this.#sendOn(conn, historyInput(seed, declare));
    // What the handle did not cover, then what arrived during the gap, in their original order (taken
    // before the turns after the handle go out: they are this connection's, to replay if it drops).
    const replay = this.#replay.drain(resumed);
    const caughtUp = catchUp && this.#sendCatchUp(conn, catchUp);
    for (const msg of replay) this.#sendOn(conn, msg);
    this.#stats.replayedMessages += replay.length;
    if (previous) this.#closeConn(previous);
    // Tools updated while this connection was setting up: its setup had the older list.
    const tools = this.#opts.config.tools;
    if (tools !== setupTools) this.#sendTools(conn, tools ?? []);
    this.#log.info({ connection: id, resumed, replayed: replay.length }, 'live: session ready');
    this.emit('ready', { resumed, connection: id });
    if (seed) {
      this.#log.info(
        { connection: id, turns: seed.length },
        'live: context rebuilt from the transcript tail',
      );
      this.emit('contextRebuilt', { turns: seed.length });
    }
    if (caughtUp) {
      this.#log.info({ connection: id, ...caughtUp }, 'live: told the turns after the resumption handle');
      this.emit('caughtUp', caughtUp);
    }
    // Handles issued before the replay arrived do not cover it: keep the handle, keep the replay log.
    for (const m of early) this.#onMessage(conn, m, { trim: false });
    this.#flushContext();
  }

  /** The turns after the resumption handle, answered if the model owes an answer and may speak now. */
  #sendCatchUp(conn: Connection, turns: HistoryTurn[]): { turns: number; answered: boolean } {
    const answered = unanswered(turns) && (this.#opts.answerCatchUp?.() ?? false);
    const msg = catchUpInput(turns, this.#clientContent, answered);
    this.#reply.sent(msg);
    this.#sendOn(conn, msg);
    return { turns: turns.length, answered };
  }

  #closeConn(c: Connection): void {
    closeSession(c.session);
  }

  #fail(err: LiveFatalError): void {
    if (this.#state === 'closed') return;
    this.#log.error({ kind: err.kind, code: err.code }, `live: ${err.message}`);
    this.emit('fatal', err);
    void this.aclose();
  }

  #onClose(conn: Connection, code: number, reason: string): void {
    if (conn !== this.#conn || this.#state === 'closed') return;
    this.#conn = undefined;
    // Messages the dead socket had not acknowledged through a handle go out again on the next one,
    // except one the service refused as too large: it would only kill the next socket the same way.
    if (code === CLOSE_TOO_BIG) this.#refuseOversized(conn);
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
    this.#goAway.stop();
    if (this.#state !== 'open' || !this.#conn) return;
    this.#goAway.done();
    // Closed before the new connection resumes: the service refuses (1011) a resume while another
    // connection of the session is open (docs/recovery.md, "When Gemini refuses a handle"). Nothing of
    // it is lost: migration waits for the model to be between replies, input waits in the buffer.
    const old = this.#conn;
    this.#conn = undefined;
    this.#closeConn(old);
    if (this.#reply.generating) {
      // The grace period ran out mid-reply: what is queued of it would never be finished.
      this.#reply.generating = false;
      this.emit('interrupted');
    }
    this.#state = 'migrating';
    this.#stats.reconnects += 1;
    this.emit('reconnecting', { reason: 'goAway', attempt: 1 });
    // Once the service has seen the close (bounded: a close that never completes only delays the resume).
    const wait = new Promise<void>((resolve) => setTimeout(resolve, MIGRATE_CLOSE_WAIT_MS).unref());
    void Promise.race([old.closed, wait]).then(() => {
      if (this.#state === 'migrating') this.#connectWithRetry('goAway', undefined).catch(() => {});
    });
  }

  #onMessage(conn: Connection, m: LiveServerMessage, opts: { trim: boolean } = { trim: true }): void {
    if (conn !== this.#conn) return; // a replaced connection's late output would duplicate or cut in
    let turnComplete = false;
    let update = false;
    let goAway = false;
    for (const ev of decodeServerMessage(m)) {
      this.#reply.observe(ev, opts.trim);
      switch (ev.type) {
        case 'resumption':
          update = true;
          // Early messages (opts.trim false) were issued before our replay reached the server: their
          // handle is still the latest, but they do not cover the replay, so the log stays.
          if (ev.handle) {
            this.#handle = ev.handle;
            if (opts.trim) this.#replay.acknowledge(ev.lastConsumedIndex);
            this.emit('handle', ev.handle, { early: !opts.trim });
          }
          break;
        case 'goAway': {
          goAway = true;
          this.#log.info({ timeLeftMs: ev.timeLeftMs }, 'live: goAway');
          this.emit('goAway', ev.timeLeftMs);
          this.#goAway.goAway(ev.timeLeftMs);
          break;
        }
        default:
          if (ev.type === 'turnComplete') turnComplete = true;
          emitEvent(this, ev);
      }
    }
    this.#goAway.afterMessage({ update, goAway, turnComplete });
    this.#flushContext();
  }
}
