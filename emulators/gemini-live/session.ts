/**
 * One BidiGenerateContent connection: the session state machine. It authenticates the setup, runs the
 * VAD or manual activity, turns user input into model turns (default behaviour or scenario), paces
 * model audio, handles barge-in, tool calls, resumption handles, goAway and the documented limits.
 * Transport (HTTP upgrade, routing) lives in server.ts; wire schemas in protocol.ts.
 */
import { EventEmitter } from 'node:events';
import { setImmediate as nextTick, setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { base64ToPcm16, parsePcmMimeType, pcm16ToBase64 } from '../../shared/audio/pcm.ts';
import { resamplePcm16 } from '../../shared/audio/resample.ts';
import {
  AUDIO_TOKENS_PER_SECOND,
  CONTEXT_WINDOW_TOKENS,
  type Conversation,
  compress,
  contextDetails,
  contextTokens,
  type Entry,
  newConversation,
  textTokens,
  VIDEO_FRAME_TOKENS,
} from './conversation.ts';
import { OUTPUT_RATE, planTurn, synthesize, type UserTurn } from './model.ts';
import type { ResolvedOptions } from './options.ts';
import {
  type ClientContent,
  type ContextUpdate,
  durationString,
  type FunctionResponse,
  parseClientFrame,
  type RealtimeInput,
  type ServerMessage,
  type Setup,
  setupSchema,
} from './protocol.ts';
import type { ResumptionStore } from './resumption.ts';
import { type ParsedScenario, renderTemplate, type Step } from './scenario.ts';
import { newStats, now, type SessionStats, type TurnRecord } from './stats.ts';
import { type AuthToken, applyConstraints, type TokenStore } from './tokens.ts';
import { EnergyVad } from './vad.ts';
import { DEFAULT_VOICE, findVoice } from './voices.ts';

export { OUTPUT_RATE };

/** The service's reason when a connection or session runs out of time (close 1011). */
const DEADLINE = 'Deadline expired before operation could complete.';

const MAX_QUEUED_TURNS = 32;

const TOKEN_EXPIRED = 'Auth token has expired (expireTime passed).';

/** Where and how the client connected (from the URL). */
export interface Route {
  apiVersion: string;
  /** `BidiGenerateContentConstrained` (ephemeral token) rather than `BidiGenerateContent`. */
  constrained: boolean;
  /** `key` or `access_token` query value. */
  credential: string | undefined;
}

export interface SessionContext {
  id: string;
  options: ResolvedOptions;
  /** The current scenario (it may be swapped while sessions run). */
  scenario: () => ParsedScenario | undefined;
  tokens: TokenStore;
  handles: ResumptionStore;
  route: Route;
}

export interface LiveSessionEvents {
  /** `setupComplete` sent. */
  ready: [];
  /** A model turn started / ended (completed or interrupted). */
  turnStarted: [TurnRecord];
  turnEnded: [TurnRecord];
  /** The connection is gone; stats are final. */
  closed: [SessionStats];
}

interface SessionConfig {
  model: string;
  textOutput: boolean;
  voice: string;
  inputTranscription: boolean;
  outputTranscription: boolean;
  interrupts: boolean;
  manualActivity: boolean;
  resumption: boolean;
  compression: { trigger: number; target: number } | undefined;
  tools: Map<string, 'BLOCKING' | 'NON_BLOCKING'>;
}

/** Something the model should answer. */
interface TurnRequest {
  trigger: TurnRecord['trigger'];
  inputEndAt: number;
  /** What the user said (text input) or `undefined` for audio (transcript decided at turn start). */
  text?: string;
  audio?: { samples: Int16Array; rate: number; durationMs: number };
  /** Fixed steps (tool-result follow-ups, greeting). */
  steps?: Step[];
}

interface ActiveTurn {
  ctl: AbortController;
  record: TurnRecord;
  generated: boolean;
  promptTokens: number;
  promptDetails: { modality: string; tokenCount: number }[];
  responseTokens: number;
  responseModality: 'AUDIO' | 'TEXT';
  /** When the client finishes playing this turn's audio, if it plays every chunk on arrival. */
  playbackEnd: number;
  spoken: string[];
  callIds: Set<string>;
}

interface PendingCall {
  id: string;
  name: string;
  behavior: 'BLOCKING' | 'NON_BLOCKING';
  turn: ActiveTurn;
  onResult: string | undefined;
  resolve?: (response: unknown) => void;
  vars: TemplateVars;
}

interface TemplateVars {
  text: string;
  turn: number;
  result: unknown;
  results: Record<string, unknown>;
}

function toolBehaviours(tools: Setup['tools']): Map<string, 'BLOCKING' | 'NON_BLOCKING'> {
  const out = new Map<string, 'BLOCKING' | 'NON_BLOCKING'>();
  for (const t of tools ?? []) {
    for (const f of t.functionDeclarations ?? []) {
      out.set(f.name, f.behavior === 'NON_BLOCKING' ? 'NON_BLOCKING' : 'BLOCKING');
    }
  }
  return out;
}

function instructionText(content: Setup['systemInstruction']): string {
  return (content?.parts ?? []).map((p) => p.text ?? '').join('');
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

export class LiveSession extends EventEmitter<LiveSessionEvents> {
  readonly id: string;
  readonly stats: SessionStats;
  #ws: WebSocket;
  #ctx: SessionContext;
  #phase: 'awaiting-setup' | 'active' | 'closed' = 'awaiting-setup';
  #life = new AbortController();
  #timers = new Set<NodeJS.Timeout>();
  #sessionLimitTimer: NodeJS.Timeout | undefined;
  #setupTimer: NodeJS.Timeout | undefined;
  #conv!: Conversation;
  #cfg!: SessionConfig;
  #token: AuthToken | undefined;
  #vad: EnergyVad | undefined;
  #manual: { frames: Int16Array[]; rate: number; samples: number } | undefined;
  #turn: ActiveTurn | undefined;
  #queue: TurnRequest[] = [];
  #calls = new Map<string, PendingCall>();

  constructor(ws: WebSocket, ctx: SessionContext) {
    super();
    this.id = ctx.id;
    this.#ws = ws;
    this.#ctx = ctx;
    this.stats = newStats(ctx.id, ctx.route.apiVersion, ctx.route.constrained);
    ws.on('message', (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    ws.on('close', (code, reason) => this.#onSocketClosed(code, reason.toString()));
    ws.on('error', (err) => this.#ctx.options.log(`session ${this.id}: socket error: ${err.message}`));
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
    return this.#turn !== undefined;
  }

  /** Closes with a status code and reason (1011 for errors, 1000 for normal). */
  close(code: number, reason = ''): void {
    if (this.#phase === 'closed') return;
    this.#ctx.options.log(`session ${this.id}: closing ${code} ${reason}`);
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

  /** Sends an arbitrary server message (tests of client robustness). */
  inject(message: ServerMessage | Record<string, unknown>): void {
    this.#send(message as ServerMessage);
  }

  // ---- transport ------------------------------------------------------------------------------------

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
    this.#turn?.ctl.abort();
    this.#turn = undefined;
    this.#queue = [];
    this.#calls.clear();
    this.#vad = undefined;
    this.#manual = undefined;
    this.stats.closedAt = now();
    this.stats.closeCode = code;
    this.stats.closeReason = reason;
    this.emit('closed', this.stats);
  }

  #onSocketClosed(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    this.#ctx.options.log(`session ${this.id}: client closed ${code} ${reason}`);
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
      if (this.#phase === 'awaiting-setup') {
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
      if (m.realtimeInput) {
        this.#onRealtimeInput(m.realtimeInput);
        return;
      }
      if (m.clientContent) {
        this.#onClientContent(m.clientContent);
        return;
      }
      if (m.toolResponse) {
        this.#onToolResponse(m.toolResponse.functionResponses ?? []);
        return;
      }
      if (m.contextUpdate) this.#onContextUpdate(m.contextUpdate);
    } catch (err) {
      this.#ctx.options.log(`session ${this.id}: internal error: ${(err as Error).stack}`);
      this.close(1011, 'Internal error encountered.');
    }
  }

  // ---- setup ----------------------------------------------------------------------------------------

  #onSetup(clientSetup: Setup): void {
    const { options, route, tokens, handles } = this.#ctx;
    const handle = clientSetup.sessionResumption?.handle;
    let setup: Setup = clientSetup;
    if (route.constrained) {
      if (!route.credential) {
        this.close(1007, 'Missing access_token for the constrained endpoint.');
        return;
      }
      const check = tokens.use(route.credential, Boolean(handle));
      if (!check.ok) {
        this.close(1007, check.reason);
        return;
      }
      this.#token = check.token;
      this.#armTokenExpiry(check.token);
      const merged = setupSchema.safeParse(applyConstraints(clientSetup, check.token));
      if (!merged.success) {
        this.close(1007, 'Invalid setup after applying the token constraints.');
        return;
      }
      setup = merged.data;
    } else if (
      !route.credential ||
      route.credential.startsWith('auth_tokens/') ||
      (options.apiKey !== undefined && route.credential !== options.apiKey)
    ) {
      this.close(1007, 'API key not valid. Please pass a valid API key.');
      return;
    }

    const model = setup.model.replace(/^models\//, '');
    if (!options.models.has(model)) {
      this.close(
        1008,
        `models/${model} is not found for API version ${route.apiVersion}, or is not supported for bidiGenerateContent.`,
      );
      return;
    }
    const gen = setup.generationConfig;
    // Affective dialog and proactive audio are v1alpha features: other versions do not know the fields.
    const alphaOnly = [
      gen?.enableAffectiveDialog !== undefined && 'generation_config.enable_affective_dialog',
      setup.proactivity !== undefined && 'proactivity',
    ].find(Boolean);
    if (alphaOnly && route.apiVersion !== 'v1alpha') {
      this.close(
        1007,
        `Invalid JSON payload received. Unknown name "${alphaOnly}" at 'setup': Cannot find field.`,
      );
      return;
    }
    const voiceName = gen?.speechConfig?.voiceConfig?.prebuiltVoiceConfig?.voiceName;
    const voice = voiceName === undefined ? DEFAULT_VOICE : findVoice(voiceName);
    if (!voice) {
      this.close(1007, `Voice ${voiceName} is not supported.`);
      return;
    }
    const modalities = gen?.responseModalities ?? ['AUDIO'];
    if (modalities.length > 1) {
      this.close(1007, 'Only one response modality is supported per session.');
      return;
    }

    if (handle) {
      const resumed = handles.take(handle);
      if (!resumed) {
        this.close(1008, 'Session not found: the resumption handle is invalid or expired.');
        return;
      }
      this.#conv = resumed.conversation;
      this.stats.resumed = true;
    } else {
      this.#conv = newConversation(this.id, now());
    }
    this.stats.sessionId = this.#conv.sessionId;
    this.stats.model = model;
    this.stats.setup = setup;

    const cwc = setup.contextWindowCompression;
    const trigger = cwc?.triggerTokens ?? Math.floor(CONTEXT_WINDOW_TOKENS * 0.8);
    const rtc = setup.realtimeInputConfig;
    const aad = rtc?.automaticActivityDetection;
    this.#cfg = {
      model,
      textOutput: modalities[0] === 'TEXT',
      voice,
      inputTranscription: setup.inputAudioTranscription !== undefined,
      outputTranscription: setup.outputAudioTranscription !== undefined,
      interrupts: rtc?.activityHandling !== 'NO_INTERRUPTION',
      manualActivity: aad?.disabled === true,
      resumption: setup.sessionResumption !== undefined,
      compression: cwc
        ? { trigger, target: cwc.slidingWindow?.targetTokens ?? Math.floor(trigger / 2) }
        : undefined,
      tools: toolBehaviours(setup.tools),
    };
    this.#conv.systemTokens = textTokens(instructionText(setup.systemInstruction));
    if (!this.#cfg.manualActivity) {
      this.#vad = new EnergyVad(
        aad ?? {},
        {
          onSpeechStart: () => this.#onActivityStart(),
          onSpeechEnd: (samples, rate, durationMs) =>
            this.#onUserInput({ trigger: 'speech', inputEndAt: now(), audio: { samples, rate, durationMs } }),
        },
        options.limits.maxUtteranceMs,
      );
    }

    this.#clearTimer(this.#setupTimer);
    this.#phase = 'active';
    this.stats.setupCompleteAt = now();
    this.#send({ setupComplete: {} });
    const { connectionLifetimeMs, goAwayNoticeMs } = options.limits;
    this.#timer(() => {
      this.stats.goAways++;
      this.#send({ goAway: { timeLeft: durationString(Math.min(goAwayNoticeMs, connectionLifetimeMs)) } });
    }, connectionLifetimeMs - goAwayNoticeMs);
    this.#timer(
      () => this.close(1011, `${DEADLINE} (connection lifetime ${durationString(connectionLifetimeMs)})`),
      connectionLifetimeMs,
    );
    this.#armSessionLimit();
    this.#resumptionUpdate();
    this.emit('ready');
    const greeting = this.#ctx.scenario()?.greeting;
    if (!this.stats.resumed && greeting?.length)
      this.#request({ trigger: 'greeting', inputEndAt: now(), steps: greeting });
  }

  /**
   * An ephemeral token's `expireTime` bounds the sessions it opened, resumed ones included: "messages in
   * Live API sessions will be rejected. (Gemini may preemptively close the session after this time.)"
   * (`CreateAuthTokenConfig.expireTime` in the google-genai SDK reference; ai.google.dev "Ephemeral
   * tokens": 30 minutes "to send messages over that connection"). No close code is documented; the
   * emulator closes at once with 1007, the code of every other credential refusal.
   */
  #armTokenExpiry(token: AuthToken): void {
    this.#timer(() => this.close(1007, TOKEN_EXPIRED), token.expireTime - now());
  }

  /** Without compression the session ends at the audio-only or (once video arrived) video limit. */
  #armSessionLimit(): void {
    this.#clearTimer(this.#sessionLimitTimer);
    this.#sessionLimitTimer = undefined;
    if (this.#cfg.compression) return;
    const { audioSessionLimitMs, videoSessionLimitMs } = this.#ctx.options.limits;
    const limit = this.#conv.videoSeen ? videoSessionLimitMs : audioSessionLimitMs;
    const kind = this.#conv.videoSeen ? 'audio+video' : 'audio-only';
    this.#sessionLimitTimer = this.#timer(
      () =>
        this.close(
          1011,
          `${DEADLINE} (${kind} session limit ${durationString(limit)}; see contextWindowCompression)`,
        ),
      this.#conv.startedAt + limit - now(),
    );
  }

  #resumptionUpdate(): void {
    if (!this.#cfg.resumption || this.#phase !== 'active') return;
    const resumable = this.#turn === undefined;
    const newHandle = resumable ? this.#ctx.handles.issue(this.#conv, this.#token?.name) : undefined;
    this.#send({ sessionResumptionUpdate: newHandle ? { newHandle, resumable } : { resumable } });
  }

  /** SDK 3.x `sendContextUpdate`: new system instruction and/or tools for the following turns. */
  #onContextUpdate(update: ContextUpdate): void {
    const setup = { ...this.stats.setup };
    if (update.systemInstruction) {
      setup.systemInstruction = update.systemInstruction;
      this.#conv.systemTokens = textTokens(instructionText(update.systemInstruction));
    }
    if (update.tools) {
      // The wrapper's presence is the signal: `tools: {}` clears every tool.
      setup.tools = update.tools.tools ?? [];
      this.#cfg.tools = toolBehaviours(update.tools.tools);
    }
    this.stats.setup = setup;
    this.stats.contextUpdates++;
  }

  // ---- input ----------------------------------------------------------------------------------------

  #onRealtimeInput(input: RealtimeInput): void {
    const blobs = [...(input.mediaChunks ?? [])];
    if (input.audio) blobs.push(input.audio);
    if (input.video) blobs.push(input.video);
    for (const blob of blobs) {
      const mime = blob.mimeType.toLowerCase();
      if (mime.startsWith('audio/')) {
        const rate = parsePcmMimeType(mime);
        if (rate === undefined) {
          this.close(1007, `Unsupported audio mime type "${blob.mimeType}"; send audio/pcm;rate=N.`);
          return;
        }
        this.#onAudio(base64ToPcm16(blob.data), rate);
      } else if (mime.startsWith('image/')) {
        this.stats.videoFrames++;
        this.#addHistory({ role: 'user', modality: 'IMAGE', tokens: VIDEO_FRAME_TOKENS, text: '[image]' });
        if (!this.#conv.videoSeen) {
          this.#conv.videoSeen = true;
          this.#armSessionLimit();
        }
      } else {
        this.close(1007, `Unsupported mime type "${blob.mimeType}".`);
        return;
      }
    }
    if (input.activityStart) {
      if (!this.#cfg.manualActivity) {
        this.close(1007, 'activityStart requires automaticActivityDetection.disabled = true.');
        return;
      }
      this.#manual = { frames: [], rate: 16_000, samples: 0 };
      this.#onActivityStart();
    }
    if (input.activityEnd) {
      if (!this.#cfg.manualActivity) {
        this.close(1007, 'activityEnd requires automaticActivityDetection.disabled = true.');
        return;
      }
      const m = this.#manual;
      this.#manual = undefined;
      if (m) {
        const samples = new Int16Array(m.samples);
        let at = 0;
        for (const f of m.frames) {
          samples.set(f, at);
          at += f.length;
        }
        this.stats.speechEnds.push(now());
        this.#onUserInput({
          trigger: 'activityEnd',
          inputEndAt: now(),
          audio: { samples, rate: m.rate, durationMs: (m.samples / m.rate) * 1000 },
        });
      }
    }
    if (input.audioStreamEnd) this.#vad?.flush();
    if (input.text !== undefined) {
      this.stats.textInputs++;
      if (this.#cfg.interrupts) this.#interrupt();
      this.#onUserInput({ trigger: 'text', inputEndAt: now(), text: input.text });
    }
  }

  #onAudio(samples: Int16Array, rate: number): void {
    this.stats.audioInFrames++;
    this.stats.audioInSeconds += samples.length / rate;
    if (this.#vad) {
      this.#vad.push(samples, rate);
    } else if (this.#manual) {
      const m = this.#manual;
      if (m.samples === 0) m.rate = rate;
      if (rate === m.rate && (m.samples / rate) * 1000 < this.#ctx.options.limits.maxUtteranceMs) {
        m.frames.push(samples);
        m.samples += samples.length;
      }
    }
    // Manual activity mode outside activityStart/End: the audio is not part of any turn.
  }

  /** Start of user activity (VAD or activityStart): barge in if allowed. */
  #onActivityStart(): void {
    this.stats.speechStarts.push(now());
    if (this.#cfg.interrupts) this.#interrupt();
  }

  #onClientContent(content: ClientContent): void {
    // "A message here will interrupt any current model generation" (LiveClientContent), whatever
    // activityHandling says: that setting is about voice activity.
    this.#interrupt();
    let lastUser = '';
    for (const turn of content.turns ?? []) {
      const text = (turn.parts ?? []).map((p) => p.text ?? '').join('');
      const role = turn.role === 'model' ? 'model' : 'user';
      if (role === 'user') lastUser = text;
      this.#addHistory({ role, modality: 'TEXT', tokens: textTokens(text), text });
    }
    if (content.turnComplete) {
      this.stats.textInputs++;
      this.#onUserInput({ trigger: 'clientContent', inputEndAt: now(), text: lastUser }, false);
    }
  }

  #onUserInput(request: TurnRequest, record = true): void {
    if (request.trigger === 'speech') this.stats.speechEnds.push(request.inputEndAt);
    if (record && request.text !== undefined) {
      this.#addHistory({
        role: 'user',
        modality: 'TEXT',
        tokens: textTokens(request.text),
        text: request.text,
      });
    }
    this.#request(request);
  }

  #addHistory(entry: Entry): void {
    this.#conv.history.push(entry);
    const c = this.#cfg.compression;
    if (c && compress(this.#conv, c.trigger, c.target)) this.stats.compressions++;
  }

  // ---- turns ----------------------------------------------------------------------------------------

  /** Starts a turn now, or queues it behind the running one. */
  #request(request: TurnRequest): void {
    if (!this.#turn) {
      this.#startTurn(request);
      return;
    }
    this.#queue.push(request);
    // A client that keeps talking over a NO_INTERRUPTION model cannot grow the backlog without bound.
    if (this.#queue.length > MAX_QUEUED_TURNS) this.#queue.shift();
  }

  #drain(): void {
    const next = this.#queue.shift();
    if (next && !this.#turn && this.#phase === 'active') this.#startTurn(next);
  }

  #startTurn(request: TurnRequest): void {
    const record: TurnRecord = {
      index: this.stats.turns++,
      trigger: request.trigger,
      inputEndAt: request.inputEndAt,
      interrupted: false,
    };
    this.stats.turnLog.push(record);
    let steps = request.steps;
    let text = request.text ?? '';
    let userTurn = this.#conv.userTurns;
    if (!steps) {
      userTurn = ++this.#conv.userTurns;
      try {
        const plan = planTurn(
          {
            trigger: request.trigger as UserTurn['trigger'],
            turn: userTurn,
            sessionId: this.#conv.sessionId,
            text: request.text,
            audioMs: request.audio?.durationMs,
          },
          this.#ctx.scenario(),
          this.#ctx.options.respond,
        );
        text = plan.transcript;
        steps = plan.steps;
      } catch (err) {
        this.#ctx.options.log(`session ${this.id}: responder failed: ${(err as Error).message}`);
        this.close(1011, 'Internal error encountered.');
        return;
      }
      if (request.audio) {
        this.#addHistory({
          role: 'user',
          modality: 'AUDIO',
          tokens: Math.ceil((request.audio.durationMs / 1000) * AUDIO_TOKENS_PER_SECOND),
          text,
        });
      }
    }
    const turn: ActiveTurn = {
      ctl: new AbortController(),
      record,
      generated: false,
      promptTokens: contextTokens(this.#conv),
      promptDetails: contextDetails(this.#conv),
      responseTokens: 0,
      responseModality: this.#cfg.textOutput ? 'TEXT' : 'AUDIO',
      spoken: [],
      playbackEnd: 0,
      callIds: new Set(),
    };
    this.#turn = turn;
    this.emit('turnStarted', record);
    if (request.audio && this.#cfg.inputTranscription)
      this.#send({ serverContent: { inputTranscription: { text } } });
    const vars: TemplateVars = { text, turn: userTurn, result: null, results: {} };
    this.#runTurn(turn, steps, vars, request).catch((err: unknown) => {
      if (turn.ctl.signal.aborted || this.#phase === 'closed') return;
      this.#ctx.options.log(`session ${this.id}: turn failed: ${(err as Error).stack}`);
      this.close(1011, 'Internal error encountered.');
    });
  }

  async #runTurn(turn: ActiveTurn, steps: Step[], vars: TemplateVars, request: TurnRequest): Promise<void> {
    const signal = AbortSignal.any([turn.ctl.signal, this.#life.signal]);
    if (this.#ctx.options.responseDelayMs > 0)
      await sleep(this.#ctx.options.responseDelayMs, undefined, { signal });
    for (const step of steps) {
      signal.throwIfAborted();
      if ('say' in step) {
        await this.#speak(turn, renderTemplate(step.say, vars), undefined, signal);
      } else if ('echo' in step) {
        const audio = request.audio;
        const echo = audio ? resamplePcm16(audio.samples, audio.rate, OUTPUT_RATE) : undefined;
        await this.#speak(turn, vars.text, echo, signal);
      } else if ('toolCall' in step) {
        await this.#callTools(turn, step, vars, signal);
      } else if ('goAway' in step) {
        this.goAway(step.goAway.timeLeftMs);
      } else if ('waitMs' in step) {
        await sleep(step.waitMs, undefined, { signal });
      } else if ('close' in step) {
        this.close(step.close.code, step.close.reason);
        return;
      }
    }
    signal.throwIfAborted();
    if (turn.generated) this.#send({ serverContent: { generationComplete: true } });
    if (this.#ctx.options.turnCompleteAfterPlayback) {
      // Like the service: generation may run ahead of real time, but the turn (and with it the chance
      // to barge in) lasts until the client has played the audio out.
      const left = turn.playbackEnd - now();
      if (left > 0) await sleep(left, undefined, { signal });
    }
    this.#endTurn(turn, false);
  }

  /** Speaks `text` (synthetic voice unless `audio` is given) or writes it in TEXT modality. */
  async #speak(
    turn: ActiveTurn,
    text: string,
    audio: Int16Array | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const words = text.split(/(?<=\s)/).filter((w) => w.length > 0);
    turn.spoken.push(text);
    if (this.#cfg.textOutput) {
      turn.responseTokens += textTokens(text);
      for (let i = 0; i < words.length; i += 4) {
        if (i > 0) await nextTick(undefined, { signal });
        this.#firstByte(turn);
        this.#send({ serverContent: { modelTurn: { parts: [{ text: words.slice(i, i + 4).join('') }] } } });
      }
      return;
    }
    const samples = audio ?? synthesize(text, this.#cfg.voice);
    const { chunkMs, pacing } = this.#ctx.options;
    const size = Math.round((OUTPUT_RATE * chunkMs) / 1000);
    const chunks = Math.max(1, Math.ceil(samples.length / size));
    const speed = pacing === 'realtime' ? 1 : pacing;
    const start = now();
    let word = 0;
    turn.responseTokens += Math.ceil((samples.length / OUTPUT_RATE) * AUDIO_TOKENS_PER_SECOND);
    for (let i = 0; i < chunks; i++) {
      if (i > 0) {
        const due = start + (i * chunkMs) / speed - now();
        if (Number.isFinite(speed) && due > 1) await sleep(due, undefined, { signal });
        else await nextTick(undefined, { signal });
      }
      const part = samples.subarray(i * size, (i + 1) * size);
      this.#firstByte(turn);
      this.#send({
        serverContent: {
          modelTurn: {
            parts: [{ inlineData: { mimeType: `audio/pcm;rate=${OUTPUT_RATE}`, data: pcm16ToBase64(part) } }],
          },
        },
      });
      this.stats.audioOutChunks++;
      this.stats.audioOutSeconds += part.length / OUTPUT_RATE;
      turn.playbackEnd = Math.max(turn.playbackEnd, now()) + (part.length / OUTPUT_RATE) * 1000;
      // Transcript pieces are spread over the audio, as the service streams them alongside.
      const until = Math.ceil(((i + 1) / chunks) * words.length);
      if (this.#cfg.outputTranscription && until > word) {
        this.#send({ serverContent: { outputTranscription: { text: words.slice(word, until).join('') } } });
      }
      word = Math.max(word, until);
    }
  }

  #firstByte(turn: ActiveTurn): void {
    turn.generated = true;
    if (turn.record.firstResponseAt === undefined) {
      turn.record.firstResponseAt = now();
      this.stats.firstResponseBytes.push(turn.record.firstResponseAt);
    }
  }

  async #callTools(
    turn: ActiveTurn,
    step: Extract<Step, { toolCall: unknown }>,
    vars: TemplateVars,
    signal: AbortSignal,
  ): Promise<void> {
    const specs = Array.isArray(step.toolCall) ? step.toolCall : [step.toolCall];
    const waits: Promise<void>[] = [];
    const blocking: string[] = [];
    const functionCalls = specs.map((spec) => {
      const id = spec.id ?? `call-${++this.#conv.callCounter}`;
      const behavior = this.#cfg.tools.get(spec.name) ?? 'BLOCKING';
      const call: PendingCall = { id, name: spec.name, behavior, turn, onResult: spec.onResult, vars };
      if (behavior === 'BLOCKING') {
        blocking.push(id);
        waits.push(
          new Promise<void>((resolve) => {
            call.resolve = (response) => {
              vars.result = response;
              vars.results[spec.name] = response;
              resolve();
            };
          }),
        );
      }
      this.#calls.set(id, call);
      turn.callIds.add(id);
      return { id, name: spec.name, args: spec.args };
    });
    this.stats.toolCalls += functionCalls.length;
    turn.responseTokens += textTokens(JSON.stringify(functionCalls));
    turn.generated = true;
    this.#send({ toolCall: { functionCalls } });
    if (waits.length === 0) return;
    const all = Promise.all(waits).then(() => 'done' as const);
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const contenders: Promise<'done' | 'timeout'>[] = [all, aborted];
    const timeoutCtl = new AbortController();
    if (step.timeoutMs !== undefined) {
      contenders.push(
        sleep(step.timeoutMs, 'timeout' as const, { signal: AbortSignal.any([signal, timeoutCtl.signal]) }),
      );
    }
    try {
      const outcome = await Promise.race(contenders);
      if (outcome === 'timeout') {
        // The model gives up on the missing responses; arriving later they are "late".
        for (const id of blocking) {
          if (this.#calls.delete(id)) this.stats.toolTimeouts++;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      timeoutCtl.abort();
    }
  }

  #onToolResponse(responses: FunctionResponse[]): void {
    for (const [i, r] of responses.entries()) {
      if (!r.id) {
        this.close(1007, `functionResponses[${i}].id is required.`);
        return;
      }
    }
    for (const r of responses) {
      this.stats.toolResponses++;
      const call = this.#calls.get(r.id!);
      if (!call) {
        this.stats.lateToolResponses++;
        continue;
      }
      // A NON_BLOCKING call answered with willContinue stays open for its further responses.
      if (call.behavior === 'BLOCKING' || !r.willContinue) this.#calls.delete(call.id);
      const json = JSON.stringify(r.response ?? {});
      this.#addHistory({ role: 'tool', modality: 'TEXT', tokens: textTokens(json), text: json });
      if (call.behavior === 'BLOCKING') {
        call.resolve?.(r.response ?? {});
        continue;
      }
      const scheduling = r.scheduling ?? 'WHEN_IDLE';
      if (scheduling === 'SILENT') continue;
      const template = call.onResult ?? `The ${call.name} tool returned {{result}}.`;
      const say = renderTemplate(template, {
        ...call.vars,
        result: r.response ?? {},
        results: { ...call.vars.results, [call.name]: r.response ?? {} },
      });
      const request: TurnRequest = { trigger: 'toolResponse', inputEndAt: now(), steps: [{ say }] };
      // INTERRUPT cuts the running answer short; WHEN_IDLE (also the default) queues behind it.
      if (scheduling === 'INTERRUPT') this.#interrupt(false);
      this.#request(request);
    }
    if (!this.#turn) this.#resumptionUpdate();
  }

  /**
   * Stops the running turn: `interrupted`, cancellation of its unanswered tool calls, `turnComplete`.
   * `cancelCalls` is false when the model interrupts itself for a NON_BLOCKING result.
   */
  #interrupt(cancelCalls = true): void {
    const turn = this.#turn;
    if (!turn) return;
    turn.ctl.abort();
    this.stats.interruptions++;
    this.#send({ serverContent: { interrupted: true } });
    if (cancelCalls) {
      const ids = [...turn.callIds].filter((id) => this.#calls.delete(id));
      if (ids.length) {
        this.stats.toolCallCancellations += ids.length;
        this.#send({ toolCallCancellation: { ids } });
      }
    }
    this.#endTurn(turn, true);
  }

  #endTurn(turn: ActiveTurn, interrupted: boolean): void {
    if (this.#turn !== turn) return;
    this.#turn = undefined;
    turn.record.interrupted = interrupted;
    turn.record.completedAt = now();
    const spoken = turn.spoken.join(' ');
    if (turn.responseTokens > 0) {
      this.#addHistory({
        role: 'model',
        modality: turn.responseModality,
        tokens: turn.responseTokens,
        text: spoken,
      });
    }
    this.#send({
      serverContent: { turnComplete: true },
      usageMetadata: {
        promptTokenCount: turn.promptTokens,
        responseTokenCount: turn.responseTokens,
        totalTokenCount: turn.promptTokens + turn.responseTokens,
        promptTokensDetails: turn.promptDetails,
        responseTokensDetails: turn.responseTokens
          ? [{ modality: turn.responseModality, tokenCount: turn.responseTokens }]
          : [],
      },
    });
    this.emit('turnEnded', turn.record);
    this.#resumptionUpdate();
    queueMicrotask(() => this.#drain());
  }
}
