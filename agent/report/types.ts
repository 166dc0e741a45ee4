/**
 * The conversation report: what one job saw of its room, from the agent joining to the job's end.
 * Its shape is versioned (`version`); fields are only ever added within a version. Times are ISO 8601
 * (UTC) wall-clock instants, durations whole milliseconds.
 */

/** The current {@link ConversationReport.version}. */
export const REPORT_VERSION = 1;

/** A conversation report (see docs/reports.md). */
export interface ConversationReport {
  /** Shape version: 1. A consumer should refuse versions it does not know. */
  version: typeof REPORT_VERSION;
  /** The LiveKit room. `sid` is empty when the server never told it (the job ended while joining). */
  room: { name: string; sid: string };
  /** The LiveKit agent job id (`AJ_…`); empty outside a worker. */
  jobId: string;
  /** The agent's participant identity in the room. */
  agentIdentity: string;
  /** The Gemini Live model the room's conversations used. */
  model: string;
  /** The multi-user policy: `shared`, `floor` or `per-participant`. */
  policy: string;
  /** When the report started (the bridge was about to start). */
  startedAt: string;
  /** When the report was finished (the job was shutting down). */
  endedAt: string;
  /** `endedAt - startedAt`. */
  durationMs: number;
  /** Humans who were in the room while the agent was, in order of joining (one entry per stay). */
  participants: ReportParticipant[];
  /**
   * What was said and written, in order: final user transcripts, the agent's replies, chat messages.
   * A long transcript keeps its beginning and its end, with one {@link TranscriptGap} between them.
   */
  transcript: (TranscriptEntry | TranscriptGap)[];
  /** The model's function calls, in the order they were made. */
  toolCalls: ReportToolCall[];
  /** Live connections replaced during the conversation (goAway migrations and dropped connections). */
  reconnects: ReportReconnect[];
  /** Token usage as the Live API reported it, summed; `null` when none was reported. */
  usage: ReportUsage | null;
  /** What went wrong: a failed Live session, input refused as too large, a lost context. */
  errors: ReportError[];
  /** Items left out of lists that reached their bound (the transcript's are in its gap entry). */
  omitted?: { participants?: number; toolCalls?: number; reconnects?: number; errors?: number };
}

/** A human's stay in the room. */
export interface ReportParticipant {
  identity: string;
  /** Display name from the participant's token, when it has one. */
  name?: string;
  /** When the agent saw them join (or the report started, for those already there). */
  joinedAt: string;
  /** When they left; absent when still there at the end. */
  leftAt?: string;
}

/** One utterance or chat message. */
export interface TranscriptEntry {
  /** When it was complete (a user turn's end, the reply's end, the chat message's arrival). */
  at: string;
  /** Who said or wrote it. */
  speaker: {
    kind: 'user' | 'agent';
    identity: string;
    /** The participant's display name, when it has one. */
    name?: string;
  };
  /** The text: the Live API's transcription for speech, the message for chat. */
  text: string;
  /** A `lk.chat` message, not speech. */
  chat?: true;
  /** An agent reply cut short (barge-in, or a Live connection lost mid-reply): `text` is what was said. */
  interrupted?: true;
  /** The text was longer than the report keeps for one entry and was cut (ends with `…`). */
  truncated?: true;
}

/** Where entries of a long transcript were left out (between its beginning and its end). */
export interface TranscriptGap {
  /** When the first entry left out was complete. */
  at: string;
  /** Marks this entry as the gap. */
  gap: true;
  /** Entries left out. */
  omittedEntries: number;
  /** UTF-8 bytes of text left out. */
  omittedBytes: number;
  /** A line for people reading the transcript, e.g. `[… 120 entries omitted …]`. */
  text: string;
}

/** One function call of the model. */
export interface ReportToolCall {
  /** The Live API's call id. */
  id: string;
  name: string;
  /**
   * The arguments the model sent (JSON; cut to a bounded size, then a string ending in `…`). Absent
   * when the call was refused before running (unknown tool, invalid arguments).
   */
  args?: Record<string, unknown> | string;
  /** `ok`; `error` (the tool threw or was refused); `cancelled` (by the model, or the session ended); `timeout`. */
  outcome: 'ok' | 'error' | 'cancelled' | 'timeout';
  /** The error returned to the model, for `error` and `timeout`. */
  error?: string;
  /** When the call started. */
  at: string;
  /** From start to result. */
  durationMs: number;
  /** The participant whose turn led to the call (the conversation's participant in `per-participant`). */
  participant?: string;
}

/** A Live connection replaced. */
export interface ReportReconnect {
  /** When the replacement began. */
  at: string;
  /** `goAway` (the service announced the end of the connection) or `closed` (it dropped). */
  cause: 'goAway' | 'closed';
  /** The close code of a dropped connection (1006, 1011, …). */
  code?: number;
  /** The new connection continued the context through a resumption handle (false: the model started blank). */
  resumed: boolean;
}

/** Tokens of one direction, with the modalities the Live API broke them into. */
export interface ReportTokens {
  tokens: number;
  /** By modality (`AUDIO`, `TEXT`, `IMAGE`, `VIDEO`, …), when reported. */
  byModality: Record<string, number>;
}

/** Token usage summed over the Live API's usage reports (one per model turn). */
export interface ReportUsage {
  /** Usage reports summed. */
  reports: number;
  /** Prompt tokens (what the model read: speech, text, images, context). */
  input: ReportTokens;
  /** Response tokens (what the model produced). */
  output: ReportTokens;
  /** Of `input`, tokens served from cache. */
  cached: number;
  /** Thinking tokens. */
  thoughts: number;
  /** Tokens of tool results read by the model. */
  toolUse: number;
  /** Sum of the reports' totals. */
  total: number;
}

/** Something that went wrong during the conversation. */
export interface ReportError {
  at: string;
  /**
   * `fatal:<kind>` (the Live session cannot continue: `auth`, `model`, `quota`, …), `context_lost`,
   * `input_refused` (input too large for the Live session or the service; never its content).
   */
  type: string;
  /** Close code, when the Live API closed the connection. */
  code?: number;
  message: string;
}
