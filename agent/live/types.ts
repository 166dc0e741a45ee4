import type { FunctionCall, LiveConnectConfig } from '@google/genai';
import type { Logger } from '../log.ts';
import type { LiveFatalError } from './errors.ts';
import type { HistoryTurn, LiveInputRefusal } from './input.ts';
import type { LiveSession } from './session.ts';
import type { LiveUsage } from './usage.ts';
import type { VertexOptions } from './vertex.ts';

/** Options of a {@link LiveSession}. */
export interface LiveSessionOptions {
  /** Gemini API key or ephemeral token. Never logged. Not used with {@link vertex}. */
  apiKey?: string;
  /**
   * Run on Vertex AI instead of the Gemini API: project, location, credentials file (ADC), endpoint.
   * `vertexOptionsFromEnv()` reads them as the SDK does. `baseUrl` and `apiVersion` above are the
   * Gemini API's and do not apply (Vertex has `vertex.baseUrl`, `vertex.apiVersion`).
   */
  vertex?: VertexOptions;
  /** Alternative endpoint (the local emulator); the SDK also reads `GOOGLE_GEMINI_BASE_URL`. */
  baseUrl?: string;
  /** API version segment of the socket URL; the SDK default when unset. */
  apiVersion?: string;
  /** Live model id. */
  model: string;
  /** Setup sent on every connection; `sessionResumption` in it turns on handle tracking and replay. */
  config: LiveConnectConfig;
  /**
   * A resumption handle from an earlier session of this conversation (another job's, through its
   * checkpoint): the first connection resumes with it. Gemini's answer to a handle it no longer takes
   * (expired, unknown, another key's or project's, another model's) is not documented: 1007, 1008 and
   * 1011 at setup have been seen, so any of those while resuming — this handle or a later one of the
   * session's own; 1011 only the second time in a row — means the handle is unusable: the session
   * starts fresh (seeded with {@link seed}, else {@link reseed}) instead, once; a fresh setup refused
   * the same way is fatal.
   */
  resumeHandle?: string;
  /**
   * Earlier turns to seed a fresh session with, when the first connection does not resume (no
   * {@link resumeHandle}, or it was refused): sent first as one `clientContent` with roles, then the
   * session emits `contextRebuilt`. On models whose catalogue entry says `clientContent.history:
   * 'historyConfig'` (3.x) the setup declares it (`historyConfig.initialHistoryInClientContent`, spliced
   * in: the SDK drops the field) and the content ends with `turnComplete`; without the declaration the
   * service closes the socket 1007.
   */
  seed?: HistoryTurn[];
  /**
   * The turns to seed a fresh session with when a later handle of this session's own is refused (the
   * transcript tail as it is then). Without it such a session starts fresh and empty.
   */
  reseed?: () => HistoryTurn[];
  /**
   * The turns that came after {@link resumeHandle} (the checkpoint's `sinceHandle`): the first
   * connection, if it resumes with that handle, tells them to the model before any other input, by the
   * model's `clientContent` rule (catch-up.ts). Dropped when the handle is refused ({@link seed} has
   * them).
   */
  catchUp?: HistoryTurn[];
  /**
   * Asked when {@link catchUp} goes out and its last turn is one the model never finished answering:
   * true to have the model answer it now (nobody is talking), false to leave it as context. Default false.
   */
  answerCatchUp?: () => boolean;
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
  /**
   * Largest client message sent, bytes of its JSON frame (default 15 MiB, under the service's limit).
   * Larger input is refused with `inputRefused` instead of being sent: the service would close the
   * connection (1009) and lose the input sent with it.
   */
  maxMessageBytes?: number;
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
  /** Token usage the service reported (a turn's, with its `turnComplete`), typed. */
  usage: [usage: LiveUsage];
  /** The server announced the end of this connection; migration follows. */
  goAway: [timeLeftMs: number | undefined];
  /** A connection is being replaced. */
  reconnecting: [info: { reason: 'goAway' | 'closed'; code?: number; attempt: number }];
  /** A reconnect could not resume (no or rejected handle): the model starts from a blank context. */
  contextLost: [];
  /** A fresh first connection was seeded with {@link LiveSessionOptions.seed}: `turns` earlier turns. */
  contextRebuilt: [info: { turns: number }];
  /** A resumed first connection was told {@link LiveSessionOptions.catchUp}; `answered`: the model answers its last turn. */
  caughtUp: [info: { turns: number; answered: boolean }];
  /**
   * A new resumption handle arrived (the latest one is also {@link LiveSession.handle}). `early`: it was
   * issued before this connection's first input reached the server, so it holds none of it (a resumed
   * connection's first handle holds no more than the handle it resumed with).
   */
  handle: [handle: string, info: { early: boolean }];
  /**
   * An input will not reach the model: too large for `maxMessageBytes` (refused before sending), or
   * refused by the service (close 1009; the session reconnects without it and goes on with the rest).
   */
  inputRefused: [refusal: LiveInputRefusal];
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
  /** Inputs refused as too large (see the `inputRefused` event). */
  refusedInputs: number;
}

/**
 * Where a {@link LiveSession} is: `idle` before `start()`, `connecting` to the first connection, `open`
 * while input goes straight out, `migrating` to a new connection after `goAway`, `reconnecting` after a
 * dropped one (input is held in both), `closed` for good (after `aclose`, abort or a fatal error).
 */
export type LiveSessionState = 'idle' | 'connecting' | 'open' | 'migrating' | 'reconnecting' | 'closed';
