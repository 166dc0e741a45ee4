/**
 * The types around a {@link Conversation}: what it is built from (its options, the Live session factory,
 * a hand-off's release), what it reports (its events, its agent state, its turn for a drain). Kept apart
 * from the class, which holds the behaviour alone; the bridge, the worker's entry and the test kit
 * import them from here.
 */

import type { Room } from '@livekit/rtc-node';
import type { Backend } from '../../shared/gemini-models/index.ts';
import type { SessionState } from '../checkpoint/state.ts';
import type { RoomConfig } from '../config.ts';
import type { LiveFatalError } from '../live/errors.ts';
import type { LiveSession, LiveSessionEvents, LiveSessionOptions } from '../live/session.ts';
import type { Logger } from '../log.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import type { ToolRunnerEvents } from '../tools/runner.ts';
import type { Conversation } from './conversation.ts';
import type { TranscriptSpeaker } from './transcripts.ts';

/** `lk.agent.state` values (plus `failed`, set when the Live session cannot continue). */
export type AgentState = 'initializing' | 'listening' | 'thinking' | 'speaking' | 'failed';

/** What a conversation decides about its Live session: model, API version, setup, logger. */
export type LiveSessionSetup = Pick<
  LiveSessionOptions,
  | 'model'
  | 'apiVersion'
  | 'config'
  | 'logger'
  | 'resumeHandle'
  | 'seed'
  | 'reseed'
  | 'catchUp'
  | 'answerCatchUp'
>;

/**
 * Opens a Live session for a conversation. The worker builds it from its credentials and endpoint
 * (agent/entry.ts), so the bridge never holds them.
 */
export type LiveSessionFactory = (setup: LiveSessionSetup) => LiveSession;

/** Options of a {@link Conversation}. */
export interface ConversationOptions {
  room: Room;
  config: RoomConfig;
  /** The tools this room offers (already selected from the registry). */
  tools: ToolRegistry;
  /** Opens the Live session. */
  liveSession: LiveSessionFactory;
  /** Where the Live sessions run: the model's catalogue entry on that backend shapes the setup (default `gemini`). */
  backend?: Backend;
  logger: Logger;
  /** Name of the agent's audio track for this conversation. */
  trackName: string;
  /** Per-participant policy: the one participant this conversation serves (transcripts go only to them). */
  audience?: string;
  /** Author of the user speech being transcribed now. */
  speaker: () => TranscriptSpeaker | undefined;
  /** Identities of the humans in the room, in join order (client-side tool targets). */
  participants: () => string[];
  /** Someone whose input this conversation takes is talking (or holding push-to-talk) now. */
  talking?: () => boolean;
  /**
   * Where an earlier job left this conversation (its checkpoint): the Live session resumes with the
   * handle, or starts seeded with the transcript tail, which also goes on in this conversation's tail.
   * Resumed, it is told the turns after the handle (`sinceHandle`) first, and answers the last of
   * them if that is still owed and nobody is {@link talking}.
   */
  resume?: SessionState;
  /**
   * A hand-off (agent/handoff/): the agent track is published and input accepted at once, but the Live
   * session opens only once this resolves — when the old job has closed its own — from the state it
   * gives. Input audio that arrived before `at` (epoch ms: the old job still sent it to its session) is
   * dropped, the rest goes first; so are chat messages, by id: those in the old job's final checkpoint
   * were its session's. Rejected: the session never opens (the job ends).
   */
  hold?: Promise<ConversationRelease>;
}

/** What a held conversation starts from (see {@link ConversationOptions.hold}). */
export interface ConversationRelease {
  /** Epoch ms the old job stopped sending input to its Live session. */
  at: number;
  /** The conversation's state in the old job's final checkpoint (handle, transcript tail). */
  resume?: SessionState;
}

/** Where a conversation is in its turn, as a drain sees it (see {@link Conversation.turn}). */
export interface TurnActivity {
  /** Its speech still plays out (bounded by the audio received). */
  playing: boolean;
  /** Tool calls running for it (each bounded by its timeout). */
  tools: number;
  /**
   * The model owes a reply (`thinking`, or one streaming in): ms since the last sign of it (the input
   * that asked for it, model output, a tool call or its result). Undefined when it owes none.
   */
  replySilentMs: number | undefined;
}

/**
 * Events of a {@link Conversation}: its own, and what its Live session and tool runner report, so that
 * observers (metrics, traces) need nothing but the conversation.
 */
export type ConversationEvents = {
  state: [state: AgentState];
  /** The Live session cannot continue (emitted before `state` turns `failed`). */
  fatal: [error: LiveFatalError];
  /** A user turn was transcribed completely (the bridge resets talk-time counters). */
  userTurn: [speaker: TranscriptSpeaker | undefined, text: string];
  /** An agent reply was transcribed completely (`interrupted`: cut by a barge-in or a lost connection). */
  agentTurn: [text: string, info: { interrupted: boolean }];
  /** A Live connection completed setup; `resumed` when it continued the context through a handle. */
  ready: LiveSessionEvents['ready'];
  /** A Live connection is being replaced (`goAway` migration or a dropped connection). */
  reconnecting: LiveSessionEvents['reconnecting'];
  /** A reconnect could not resume: the model starts from a blank context. */
  contextLost: [];
  /** The Live session started seeded with the transcript tail of the conversation's checkpoint. */
  contextRebuilt: LiveSessionEvents['contextRebuilt'];
  /** The resumed Live session was told the turns after its handle (and answers the last if `answered`). */
  caughtUp: LiveSessionEvents['caughtUp'];
  /** The transcript of the reply under way grew (a checkpoint then keeps what it has said so far). */
  agentText: [];
  /** A new resumption handle arrived: worth a checkpoint. */
  handle: LiveSessionEvents['handle'];
  /** User speech was transcribed; `overReply` while the model was answering (speech of a barge-in). */
  inputTranscription: [info: { overReply: boolean }];
  /** Model audio arrived for the agent track. */
  audio: [];
  /** Token usage the service reported (with the turn it belongs to, before `turnComplete`). */
  usage: LiveSessionEvents['usage'];
  /** The model finished its turn. */
  turnComplete: [];
  /** The user barged in: the rest of the reply is dropped. */
  interrupted: [];
  /** An input will not reach the model: too large for the Live session or for the service. */
  inputRefused: LiveSessionEvents['inputRefused'];
  toolStarted: ToolRunnerEvents['started'];
  toolFinished: ToolRunnerEvents['finished'];
  /** The Live session ended for good (closed, or after `fatal`). */
  closed: [];
};
