/**
 * What the parts of a session (turn engine, output, tool calls, input, limits) share: the narrow view
 * of the connection they act through, and the records of a turn in flight.
 */
import type { Conversation } from './conversation.ts';
import type { ResolvedOptions } from './options.ts';
import type { ServerMessage } from './protocol.ts';
import type { ResumptionStore } from './resumption.ts';
import type { ParsedScenario, Step } from './scenario.ts';
import type { Route, SessionConfig } from './setup.ts';
import type { SessionStats, TurnRecord } from './stats.ts';
import type { TokenStore } from './tokens.ts';

export interface SessionContext {
  id: string;
  options: ResolvedOptions;
  /** The current scenario (it may be swapped while sessions run). */
  scenario: () => ParsedScenario | undefined;
  tokens: TokenStore;
  handles: ResumptionStore;
  route: Route;
}

/** The connection as the session's parts see it (valid once setup is complete). */
export interface SessionCore {
  readonly id: string;
  readonly ctx: SessionContext;
  readonly stats: SessionStats;
  readonly conv: Conversation;
  readonly cfg: SessionConfig;
  /** Aborted when the connection closes. */
  readonly life: AbortSignal;
  /** Setup is complete and the connection is not closed. */
  readonly active: boolean;
  /** The ephemeral token the session was opened with, if any. */
  readonly tokenName: string | undefined;
  send(message: ServerMessage): void;
  close(code: number, reason?: string): void;
  goAway(timeLeftMs: number): void;
  /** A timer cleared on close. `Infinity` (a disabled limit) schedules nothing. */
  timer(fn: () => void, ms: number): NodeJS.Timeout | undefined;
  clearTimer(t: NodeJS.Timeout | undefined): void;
  log(line: string): void;
  turnStarted(record: TurnRecord): void;
  turnEnded(record: TurnRecord): void;
}

/** Something the model should answer. */
export interface TurnRequest {
  trigger: TurnRecord['trigger'];
  inputEndAt: number;
  /** What the user said (text input) or `undefined` for audio (transcript decided at turn start). */
  text?: string;
  audio?: { samples: Int16Array; rate: number; durationMs: number };
  /** Fixed steps (tool-result follow-ups, greeting). */
  steps?: Step[];
}

export interface ActiveTurn {
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

/** Values of a turn's `say` templates. */
export interface TemplateVars {
  text: string;
  turn: number;
  result: unknown;
  /** Tool results by name (own keys only are read, see renderTemplate). */
  results: Record<string, unknown>;
}
