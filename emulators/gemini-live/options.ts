import { DEFAULT_LIVE_MODEL } from '../../shared/gemini-models/index.ts';
import { MODEL_PROFILES } from './profiles.ts';
import type { Responder, Scenario } from './scenario.ts';

/**
 * Live model names the emulator accepts out of the box (the `models/` prefix is optional on the wire).
 * Pass more with {@link GeminiEmulatorOptions.models}.
 */
export const KNOWN_MODELS: readonly string[] = [...MODEL_PROFILES.keys()];

/** The model the emulator's docs and tests default to: the catalogue's default Live model. */
export const DEFAULT_MODEL = DEFAULT_LIVE_MODEL;

/**
 * Session and connection limits. Defaults are Google's documented values; tests shrink them to seconds.
 * All durations in milliseconds; `Infinity` disables a time limit.
 */
export interface EmulatorLimits {
  /** Lifetime of one WebSocket connection; at its end the server closes with 1011. Default 10 min. */
  connectionLifetimeMs: number;
  /** How long before the connection's end `goAway{timeLeft}` is sent. Default 60 s. */
  goAwayNoticeMs: number;
  /** Session length without `contextWindowCompression`, audio only. Default 15 min. */
  audioSessionLimitMs: number;
  /** Session length without compression once video frames have arrived. Default 2 min. */
  videoSessionLimitMs: number;
  /** How long a `sessionResumptionUpdate.newHandle` stays usable. Default 2 h. */
  resumptionHandleTtlMs: number;
  /** Maximum WebSocket message size accepted (larger → close 1009). Default 16 MiB. */
  maxPayloadBytes: number;
  /** Time a client has to send `setup` after the socket opens (then close 1007). Default 60 s. */
  setupTimeoutMs: number;
  /** Longest utterance kept for echo/stats; speech beyond is counted but not buffered. Default 60 s. */
  maxUtteranceMs: number;
  /** Lifetime of the Vertex AI access tokens the OAuth2 token endpoint issues. Default 1 h (Google's). */
  accessTokenTtlMs: number;
}

export const DEFAULT_LIMITS: EmulatorLimits = {
  connectionLifetimeMs: 10 * 60_000,
  goAwayNoticeMs: 60_000,
  audioSessionLimitMs: 15 * 60_000,
  videoSessionLimitMs: 2 * 60_000,
  resumptionHandleTtlMs: 2 * 60 * 60_000,
  maxPayloadBytes: 16 * 1024 * 1024,
  setupTimeoutMs: 60_000,
  maxUtteranceMs: 60_000,
  accessTokenTtlMs: 3600_000,
};

/**
 * How fast model audio goes out: `'realtime'` paces chunks at playback speed, a number is a speed factor
 * (2 = twice real time), `Infinity` sends as fast as the socket takes it (still yielding between chunks
 * so barge-in is seen).
 */
export type Pacing = 'realtime' | number;

export interface GeminiEmulatorOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /**
   * The only API key accepted (sockets and `auth_tokens`). `undefined` (default) accepts any non-empty
   * key, like a permissive dev endpoint.
   */
  apiKey?: string;
  /** Extra model names accepted besides {@link KNOWN_MODELS}. */
  models?: string[];
  /** Model audio pacing. Default `'realtime'`. */
  pacing?: Pacing;
  /** "Thinking time" between end of user input and the first response message. Default 0. */
  responseDelayMs?: number;
  /** Length of each model audio chunk (20–40 ms like the service). Default 40. */
  chunkMs?: number;
  /**
   * Send `turnComplete` only once the turn's audio would have finished playing at real time (the
   * service's behaviour: generation runs ahead, `generationComplete` comes first, and speech in the gap
   * still interrupts). Default false: `turnComplete` follows `generationComplete` at once, so a fast
   * `pacing` makes whole turns fast.
   */
  turnCompleteAfterPlayback?: boolean;
  /** Scripted behaviour; without one the model echoes audio and answers text deterministically. */
  scenario?: Scenario;
  /**
   * Decides user turns programmatically (takes precedence over the scenario for the turns it answers).
   */
  respond?: Responder;
  /** Overrides of Google's documented limits. */
  limits?: Partial<EmulatorLimits>;
  /** Server frames as binary (UTF-8 JSON in a binary frame, like Google's console) instead of text. */
  binaryFrames?: boolean;
  /** Receives one line per notable event (connect, close, errors). Default: silent. */
  log?: (line: string) => void;
}

export interface ResolvedOptions {
  port: number;
  host: string;
  apiKey: string | undefined;
  models: Set<string>;
  pacing: Pacing;
  responseDelayMs: number;
  chunkMs: number;
  turnCompleteAfterPlayback: boolean;
  scenario: Scenario | undefined;
  respond: Responder | undefined;
  limits: EmulatorLimits;
  binaryFrames: boolean;
  log: (line: string) => void;
}

export function resolveOptions(options: GeminiEmulatorOptions = {}): ResolvedOptions {
  const chunkMs = options.chunkMs ?? 40;
  if (!(chunkMs >= 10 && chunkMs <= 1000))
    throw new RangeError(`chunkMs must be within 10..1000, got ${chunkMs}`);
  const pacing = options.pacing ?? 'realtime';
  if (pacing !== 'realtime' && !(typeof pacing === 'number' && pacing > 0)) {
    throw new RangeError(`pacing must be 'realtime' or a positive speed factor, got ${String(pacing)}`);
  }
  return {
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    apiKey: options.apiKey,
    models: new Set([...KNOWN_MODELS, ...(options.models ?? []).map((m) => m.replace(/^models\//, ''))]),
    pacing,
    responseDelayMs: options.responseDelayMs ?? 0,
    chunkMs,
    turnCompleteAfterPlayback: options.turnCompleteAfterPlayback ?? false,
    scenario: options.scenario,
    respond: options.respond,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    binaryFrames: options.binaryFrames ?? false,
    log: options.log ?? (() => {}),
  };
}
