/** Per-session counters and timestamps, for tests and benchmarks. Times are epoch milliseconds. */

/** Current time in epoch ms with sub-millisecond precision (monotonic within the process). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** One model turn, from the end of the user's input to the turn's end. */
export interface TurnRecord {
  /** 0-based index among this connection's turns. */
  index: number;
  /** What started it. */
  trigger: 'speech' | 'activityEnd' | 'text' | 'clientContent' | 'toolResponse' | 'greeting';
  /** End of the user's input: VAD end-of-speech decision, `activityEnd`, or text arrival. */
  inputEndAt: number;
  /** First `modelTurn` frame (audio or text) sent. */
  firstResponseAt?: number;
  /** `turnComplete` sent. */
  completedAt?: number;
  interrupted: boolean;
}

export interface SessionStats {
  /** Connection id (unique per WebSocket). */
  id: string;
  /** Conversation id: stays the same across resumed connections. */
  sessionId: string;
  model: string;
  /**
   * The setup the session runs with (after ephemeral-token constraints), as received: lets tests check
   * what a client configured (voice, system instruction, tools, VAD…).
   */
  setup?: Record<string, unknown>;
  /**
   * Setup settings the model does not support but the service takes without an error (the catalogue's
   * `drop` issues, e.g. `thinkingConfig` on gemini-3.8-live): ignored, and listed here so tests can
   * check that a client sends only what its model uses.
   */
  ignored: { field: string; problem: string }[];
  apiVersion: string;
  /** The endpoint connected to: the Gemini API or Vertex AI (`LlmBidiService`). */
  backend: 'gemini' | 'vertex';
  /** Connected with an ephemeral token (Constrained path). */
  ephemeral: boolean;
  /** Continued an earlier session through a resumption handle. */
  resumed: boolean;
  openedAt: number;
  setupCompleteAt?: number;
  closedAt?: number;
  closeCode?: number;
  closeReason?: string;
  /** Seconds of user audio received (at its own rate). */
  audioInSeconds: number;
  /** `realtimeInput` audio messages (and media chunks) received. */
  audioInFrames: number;
  /** Seconds of model audio sent. */
  audioOutSeconds: number;
  audioOutChunks: number;
  videoFrames: number;
  textInputs: number;
  /** `clientContent` turns of room notes taken in without an answer (proactive audio). */
  silentTurns: number;
  /** Model turns started on this connection. */
  turns: number;
  interruptions: number;
  toolCalls: number;
  toolResponses: number;
  /** Tool responses for unknown, cancelled or timed-out calls. */
  lateToolResponses: number;
  toolCallCancellations: number;
  toolTimeouts: number;
  goAways: number;
  /** `contextUpdate` messages applied (SDK 3.x `sendContextUpdate`). */
  contextUpdates: number;
  /** Context-window compressions performed. */
  compressions: number;
  speechStarts: number[];
  speechEnds: number[];
  firstResponseBytes: number[];
  turnLog: TurnRecord[];
}

export function newStats(
  id: string,
  apiVersion: string,
  ephemeral: boolean,
  backend: 'gemini' | 'vertex' = 'gemini',
): SessionStats {
  return {
    id,
    sessionId: id,
    model: '',
    apiVersion,
    backend,
    ephemeral,
    resumed: false,
    openedAt: now(),
    audioInSeconds: 0,
    audioInFrames: 0,
    audioOutSeconds: 0,
    audioOutChunks: 0,
    videoFrames: 0,
    textInputs: 0,
    silentTurns: 0,
    turns: 0,
    interruptions: 0,
    toolCalls: 0,
    toolResponses: 0,
    lateToolResponses: 0,
    toolCallCancellations: 0,
    toolTimeouts: 0,
    goAways: 0,
    contextUpdates: 0,
    ignored: [],
    compressions: 0,
    speechStarts: [],
    speechEnds: [],
    firstResponseBytes: [],
    turnLog: [],
  };
}
