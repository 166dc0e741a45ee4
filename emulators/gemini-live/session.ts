/**
 * One BidiGenerateContent connection: the socket, its phases and timers, and the dispatch of client
 * messages. The first message goes through setup.ts (auth, validation against the model's profile);
 * after it, input.ts takes user input, turns.ts answers it (output.ts, tool-calls.ts) and limits.ts
 * enforces the documented time limits. Transport (HTTP upgrade, routing) lives in server.ts.
 */
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { type Conversation, newConversation, textTokens } from './conversation.ts';
import { InputHandler } from './input.ts';
import { DEADLINE, SessionLimits, TOKEN_EXPIRED } from './limits.ts';
import { OUTPUT_RATE } from './profiles.ts';
import {
  type ContextUpdate,
  durationString,
  parseClientFrame,
  type ServerMessage,
  type Setup,
} from './protocol.ts';
import type { SessionContext, SessionCore } from './session-core.ts';
import {
  authenticate,
  configure,
  instructionText,
  ownerOf,
  type SessionConfig,
  toolBehaviours,
} from './setup.ts';
import { newStats, now, type SessionStats, type TurnRecord } from './stats.ts';
import type { AuthToken } from './tokens.ts';
import { TurnEngine } from './turns.ts';

export type { SessionContext } from './session-core.ts';
export type { Route } from './setup.ts';
export { OUTPUT_RATE };

export interface LiveSessionEvents {
  /** `setupComplete` sent. */
  ready: [];
  /** A model turn started / ended (completed or interrupted). */
  turnStarted: [TurnRecord];
  turnEnded: [TurnRecord];
  /** The connection is gone; stats are final. */
  closed: [SessionStats];
}

/** Close codes a server may put on the wire (1005/1006 are only ever observed, never sent). */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Close reasons are limited to 123 bytes. */
function clampReason(reason: string): string {
  let out = reason;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

/** The parts that exist once setup is complete. */
interface Active {
  core: SessionCore;
  turns: TurnEngine;
  input: InputHandler;
  limits: SessionLimits;
}

export class LiveSession extends EventEmitter<LiveSessionEvents> {
  readonly id: string;
  readonly stats: SessionStats;
  #ws: WebSocket;
  #ctx: SessionContext;
  #phase: 'awaiting-setup' | 'active' | 'closed' = 'awaiting-setup';
  #life = new AbortController();
  #timers = new Set<NodeJS.Timeout>();
  #setupTimer: NodeJS.Timeout | undefined;
  #token: AuthToken | undefined;
  #active: Active | undefined;

  constructor(ws: WebSocket, ctx: SessionContext) {
    super();
    this.id = ctx.id;
    this.#ws = ws;
    this.#ctx = ctx;
    this.stats = newStats(ctx.id, ctx.route.apiVersion, ctx.route.constrained, ctx.route.backend);
    ws.on('message', (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    ws.on('close', (code, reason) => this.#onSocketClosed(code, reason.toString()));
    ws.on('error', (err) => this.#log(`socket error: ${err.message}`));
    this.#setupTimer = this.#timer(
      () => this.close(1007, 'No setup message received in time.'),
      ctx.options.limits.setupTimeoutMs,
    );
  }

  get closed(): boolean {
    return this.#phase === 'closed';
  }

  /** The model is producing a turn (or waiting on its blocking tool calls). */
  get responding(): boolean {
    return this.#active !== undefined && !this.#active.turns.idle;
  }

  /** Closes with a status code and reason (1011 for errors, 1000 for normal). */
  close(code: number, reason = ''): void {
    if (this.#phase === 'closed') return;
    this.#log(`closing ${code} ${reason}`);
    this.#finish(code, reason);
    if (sendableCode(code)) this.#ws.close(code, clampReason(reason));
    else this.#ws.terminate();
  }

  /** Drops the TCP connection without a close frame: the client sees 1006. */
  terminate(): void {
    if (this.#phase === 'closed') return;
    this.#finish(1006, 'terminated');
    this.#ws.terminate();
  }

  /** Sends `goAway{timeLeft}` now and closes with 1011 once it runs out. */
  goAway(timeLeftMs: number): void {
    if (this.#phase !== 'active') return;
    this.stats.goAways++;
    this.#send({ goAway: { timeLeft: durationString(timeLeftMs) } });
    this.#timer(() => this.close(1011, `${DEADLINE} (after goAway)`), timeLeftMs);
  }

  /** The Vertex AI access token this connection was opened with (never logged). */
  get accessToken(): string | undefined {
    return this.#ctx.route.accessToken;
  }

  /** Sends an arbitrary server message (tests of client robustness). */
  inject(message: ServerMessage | Record<string, unknown>): void {
    this.#send(message as ServerMessage);
  }

  // ---- transport ------------------------------------------------------------------------------------

  #log(line: string): void {
    this.#ctx.options.log(`session ${this.id}: ${line}`);
  }

  #send(message: ServerMessage): void {
    if (this.#phase === 'closed' || this.#ws.readyState !== this.#ws.OPEN) return;
    const json = JSON.stringify(message);
    this.#ws.send(this.#ctx.options.binaryFrames ? Buffer.from(json) : json);
  }

  /** A timer cleared on close. `Infinity` (a disabled limit) schedules nothing. */
  #timer(fn: () => void, ms: number): NodeJS.Timeout | undefined {
    if (ms === Number.POSITIVE_INFINITY) return undefined;
    const t = setTimeout(
      () => {
        this.#timers.delete(t);
        fn();
      },
      // Node fires longer delays at once; 24.8 days is "never" for a Live connection anyway.
      Math.min(Math.max(0, ms), 2 ** 31 - 1),
    );
    this.#timers.add(t);
    return t;
  }

  #clearTimer(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.#timers.delete(t);
  }

  #finish(code: number, reason: string): void {
    this.#phase = 'closed';
    this.#life.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#active?.turns.clear();
    if (this.#active) this.#ctx.handles.closed(this.#active.core.conv.sessionId);
    this.stats.closedAt = now();
    this.stats.closeCode = code;
    this.stats.closeReason = reason;
    this.emit('closed', this.stats);
  }

  #onSocketClosed(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    this.#log(`client closed ${code} ${reason}`);
    this.#finish(code, reason);
  }

  #onFrame(data: Buffer, _isBinary: boolean): void {
    if (this.#phase === 'closed') return;
    if (this.#token && now() >= this.#token.expireTime) {
      // The expiry timer may not have run yet; the message is rejected all the same.
      this.close(1007, TOKEN_EXPIRED);
      return;
    }
    const parsed = parseClientFrame(data);
    if (!parsed.ok) {
      this.close(1007, parsed.reason);
      return;
    }
    const m = parsed.message;
    try {
      const active = this.#active;
      if (!active) {
        if (!m.setup) {
          this.close(1007, 'The first message must be a setup message.');
          return;
        }
        this.#onSetup(m.setup);
        return;
      }
      if (m.setup) {
        this.close(1007, 'Setup was already received; send it only once, first.');
        return;
      }
      if (m.realtimeInput) active.input.realtime(m.realtimeInput);
      else if (m.clientContent) active.input.clientContent(m.clientContent);
      else if (m.toolResponse) active.turns.tools.respond(m.toolResponse.functionResponses ?? []);
      else if (m.contextUpdate) this.#onContextUpdate(active, m.contextUpdate);
    } catch (err) {
      this.#log(`internal error: ${(err as Error).stack}`);
      this.close(1011, 'Internal error encountered.');
    }
  }

  // ---- setup ----------------------------------------------------------------------------------------

  #onSetup(clientSetup: Setup): void {
    const { options, route, tokens, handles } = this.#ctx;
    const auth = authenticate(route, clientSetup, options, tokens);
    if (!auth.ok) {
      this.close(auth.code, auth.reason);
      return;
    }
    this.#token = auth.token;
    const { setup } = auth;
    const configured = configure(setup, route, options);
    if (!configured.ok) {
      this.close(configured.code, configured.reason);
      return;
    }
    const cfg = configured.config;

    let conv: Conversation;
    const handle = clientSetup.sessionResumption?.handle;
    const origin = { model: cfg.model, owner: ownerOf(route, setup) };
    if (handle) {
      // Refused at setup, before setupComplete: the SDK's connect() rejects with the code.
      const refusals = cfg.profile.spec.resumption;
      const resumed = handles.take(handle);
      const c = resumed?.conversation;
      if (!c || (c.owner !== undefined && c.owner !== origin.owner)) {
        this.#log(
          `resumption refused: ${c ? 'handle of another key or project' : 'unknown or expired handle'}`,
        );
        this.close(refusals.unknown.code, refusals.unknown.reason);
        return;
      }
      if (c.model !== undefined && c.model !== origin.model) {
        this.#log(`resumption refused: handle of a ${c.model} session`);
        this.close(refusals.otherModel.code, refusals.otherModel.reason);
        return;
      }
      if (handles.isOpen(c.sessionId)) {
        this.#log('resumption refused: another connection of the session is still open');
        this.close(refusals.stillOpen.code, refusals.stillOpen.reason);
        return;
      }
      conv = c;
      this.stats.resumed = true;
    } else {
      conv = newConversation(this.id, now(), origin);
    }
    this.stats.sessionId = conv.sessionId;
    this.stats.model = cfg.model;
    this.stats.setup = setup;
    this.stats.ignored = cfg.ignored.map(({ field, problem }) => ({ field, problem }));
    for (const i of this.stats.ignored) this.#log(`ignoring ${i.field}: ${i.problem}`);
    conv.systemTokens = textTokens(instructionText(setup.systemInstruction));

    const core = this.#core(conv, cfg);
    const turns = new TurnEngine(core);
    const limits = new SessionLimits(core);
    const input = new InputHandler(core, turns, setup.realtimeInputConfig?.automaticActivityDetection, () =>
      limits.armSessionLimit(),
    );
    this.#active = { core, turns, input, limits };
    handles.opened(conv.sessionId);

    this.#clearTimer(this.#setupTimer);
    this.#phase = 'active';
    this.stats.setupCompleteAt = now();
    this.#send({ setupComplete: {} });
    limits.start(this.#token);
    turns.resumptionUpdate();
    this.emit('ready');
    const greeting = this.#ctx.scenario()?.greeting;
    if (!this.stats.resumed && greeting?.length)
      turns.request({ trigger: 'greeting', inputEndAt: now(), steps: greeting });
  }

  /** The view of this connection its parts act through. */
  #core(conv: Conversation, cfg: SessionConfig): SessionCore {
    const session = this;
    return {
      id: this.id,
      ctx: this.#ctx,
      stats: this.stats,
      conv,
      cfg,
      life: this.#life.signal,
      get active() {
        return session.#phase === 'active';
      },
      get tokenName() {
        return session.#token?.name;
      },
      send: (message) => this.#send(message),
      close: (code, reason) => this.close(code, reason),
      goAway: (ms) => this.goAway(ms),
      timer: (fn, ms) => this.#timer(fn, ms),
      clearTimer: (t) => this.#clearTimer(t),
      log: (line) => this.#log(line),
      turnStarted: (record) => this.emit('turnStarted', record),
      turnEnded: (record) => this.emit('turnEnded', record),
    };
  }

  /** SDK 3.x `sendContextUpdate`: new system instruction and/or tools for the following turns. */
  #onContextUpdate({ core }: Active, update: ContextUpdate): void {
    const setup = { ...this.stats.setup };
    if (update.systemInstruction) {
      setup.systemInstruction = update.systemInstruction;
      core.conv.systemTokens = textTokens(instructionText(update.systemInstruction));
    }
    if (update.tools) {
      // The wrapper's presence is the signal: `tools: {}` clears every tool.
      setup.tools = update.tools.tools ?? [];
      core.cfg.tools = toolBehaviours(update.tools.tools, core.cfg.profile.spec);
    }
    this.stats.setup = setup;
    this.stats.contextUpdates++;
  }
}
