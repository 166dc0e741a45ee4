import type { LiveUsage } from '../live/usage.ts';
import {
  type ConversationReport,
  REPORT_VERSION,
  type ReportError,
  type ReportParticipant,
  type ReportReconnect,
  type ReportToolCall,
  type ReportUsage,
  type TranscriptEntry,
  type TranscriptGap,
} from './types.ts';

/**
 * Bounds of a report, so that its JSON stays well under a megabyte however long the conversation:
 * a webhook receiver (and the job's shutdown) should not have to cope with an unbounded body.
 */
export interface ReportLimits {
  /** Transcript entries kept (half from the beginning, half from the end). Default 1000. */
  transcriptEntries: number;
  /** UTF-8 bytes of transcript text kept (half from the beginning, half from the end). Default 256 KiB. */
  transcriptBytes: number;
  /** UTF-8 bytes of one entry's text; longer text is cut and marked `truncated`. Default 8 KiB. */
  entryBytes: number;
  /** UTF-8 bytes of one tool call's JSON arguments; longer ones become a cut string. Default 2 KiB. */
  argsBytes: number;
  /** Tool calls, reconnects, errors and participant stays kept each (the first ones). Default 200. */
  items: number;
}

export const DEFAULT_REPORT_LIMITS: ReportLimits = {
  transcriptEntries: 1000,
  transcriptBytes: 256 * 1024,
  entryBytes: 8 * 1024,
  argsBytes: 2 * 1024,
  items: 200,
};

/** What a report says about its job, known when it starts. */
export type ReportHead = Pick<ConversationReport, 'room' | 'jobId' | 'agentIdentity' | 'model' | 'policy'>;

type Said = Omit<TranscriptEntry, 'at' | 'truncated'>;
type Kept = { entry: TranscriptEntry; bytes: number };
type Running = { call: ReportToolCall; started: number };

const iso = (ms: number) => new Date(ms).toISOString();
const utf8 = (s: string) => Buffer.byteLength(s);

/** `text` cut to at most `max` UTF-8 bytes, never inside a character. */
function cut(text: string, max: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= max) return text;
  // A character split at the cut decodes as U+FFFD: drop it.
  return `${bytes
    .subarray(0, max - 3)
    .toString()
    .replace(/\uFFFD+$/, '')}…`;
}

/**
 * Accumulates what happens in a conversation into a {@link ConversationReport}, within
 * {@link ReportLimits}: the transcript keeps its beginning and its end with a gap entry between them,
 * other lists keep their first items and count the rest.
 */
export class ReportBuilder {
  readonly head: ReportHead;
  readonly #limits: ReportLimits;
  readonly #now: () => number;
  readonly #startedAt: number;
  readonly #participants: ReportParticipant[] = [];
  readonly #present = new Map<string, ReportParticipant>();
  readonly #first: Kept[] = [];
  #firstBytes = 0;
  #firstFull = false;
  readonly #last: Kept[] = [];
  #lastBytes = 0;
  #gap: TranscriptGap | undefined;
  readonly #tools: ReportToolCall[] = [];
  readonly #running = new Map<string, Running>();
  readonly #reconnects: ReportReconnect[] = [];
  readonly #errors: ReportError[] = [];
  readonly #omitted: NonNullable<ConversationReport['omitted']> = {};
  #usage: ReportUsage | null = null;

  constructor(head: ReportHead, limits: Partial<ReportLimits> = {}, now: () => number = Date.now) {
    this.head = head;
    this.#limits = { ...DEFAULT_REPORT_LIMITS, ...limits };
    this.#now = now;
    this.#startedAt = now();
  }

  /** A human joined (or was there when the report started). A second join while present is ignored. */
  joined(identity: string, name?: string): void {
    if (this.#present.has(identity)) return;
    const p: ReportParticipant = { identity, ...(name && { name }), joinedAt: iso(this.#now()) };
    this.#present.set(identity, p);
    this.#keep(this.#participants, p, 'participants');
  }

  left(identity: string): void {
    const p = this.#present.get(identity);
    if (!p) return;
    this.#present.delete(identity);
    p.leftAt = iso(this.#now());
  }

  /** The display name of a human the report knows. */
  nameOf(identity: string): string | undefined {
    return (
      this.#present.get(identity)?.name ?? this.#participants.findLast((p) => p.identity === identity)?.name
    );
  }

  /** A complete utterance or chat message; empty text is not an entry. */
  said(s: Said): void {
    if (!s.text.trim()) return;
    const text = cut(s.text, this.#limits.entryBytes);
    const entry: TranscriptEntry = {
      at: iso(this.#now()),
      ...s,
      text,
      ...(text !== s.text && { truncated: true as const }),
    };
    const kept = { entry, bytes: utf8(text) };
    const half = {
      entries: Math.floor(this.#limits.transcriptEntries / 2),
      bytes: this.#limits.transcriptBytes / 2,
    };
    if (!this.#firstFull) {
      if (this.#first.length < half.entries && this.#firstBytes + kept.bytes <= half.bytes) {
        this.#first.push(kept);
        this.#firstBytes += kept.bytes;
        return;
      }
      this.#firstFull = true;
    }
    this.#last.push(kept);
    this.#lastBytes += kept.bytes;
    while (this.#last.length > half.entries || (this.#lastBytes > half.bytes && this.#last.length > 1)) {
      const dropped = this.#last.shift()!;
      this.#lastBytes -= dropped.bytes;
      this.#gap ??= { at: dropped.entry.at, gap: true, omittedEntries: 0, omittedBytes: 0, text: '' };
      this.#gap.omittedEntries++;
      this.#gap.omittedBytes += dropped.bytes;
    }
  }

  /** A tool call began running. */
  toolStarted(c: { id: string; name: string; args: Record<string, unknown> }, participant?: string): void {
    const now = this.#now();
    const call: ReportToolCall = {
      id: c.id,
      name: c.name,
      args: this.#args(c.args),
      outcome: 'cancelled',
      at: iso(now),
      durationMs: 0,
      ...(participant && { participant }),
    };
    this.#running.set(c.id, { call, started: now });
    this.#keep(this.#tools, call, 'toolCalls');
  }

  /** A tool call ended; one that never started (unknown tool, invalid arguments) is recorded here. */
  toolFinished(
    c: { id: string; name: string; ok: boolean; error?: string; cancelled?: boolean },
    participant?: string,
  ): void {
    const now = this.#now();
    let running = this.#running.get(c.id);
    this.#running.delete(c.id);
    if (!running) {
      const call: ReportToolCall = {
        id: c.id,
        name: c.name,
        outcome: 'error',
        at: iso(now),
        durationMs: 0,
        ...(participant && { participant }),
      };
      running = { call, started: now };
      this.#keep(this.#tools, call, 'toolCalls');
    }
    const { call } = running;
    call.durationMs = Math.round(now - running.started);
    // The runner reports a time-out as an error with this text (agent/tools/runner.ts).
    const timedOut = !c.ok && !c.cancelled && /^timed out after \d+ ms$/.test(c.error ?? '');
    call.outcome = c.ok ? 'ok' : c.cancelled ? 'cancelled' : timedOut ? 'timeout' : 'error';
    if (c.error && !c.ok) call.error = cut(c.error, 512);
  }

  /** A Live connection is being replaced; the returned record learns later whether it resumed. */
  reconnecting(cause: 'goAway' | 'closed', code?: number): ReportReconnect {
    const r: ReportReconnect = {
      at: iso(this.#now()),
      cause,
      ...(code !== undefined && { code }),
      resumed: false,
    };
    this.#keep(this.#reconnects, r, 'reconnects');
    return r;
  }

  error(type: string, message: string, code?: number): void {
    const e: ReportError = { at: iso(this.#now()), type, ...(code !== undefined && { code }), message };
    this.#keep(this.#errors, e, 'errors');
  }

  /** Adds one Live API usage report (they come per model turn) to the totals. */
  addUsage(u: LiveUsage): void {
    this.#usage ??= {
      reports: 0,
      input: { tokens: 0, byModality: {} },
      output: { tokens: 0, byModality: {} },
      cached: 0,
      thoughts: 0,
      toolUse: 0,
      total: 0,
    };
    const sum = this.#usage;
    sum.reports++;
    sum.input.tokens += u.input;
    sum.output.tokens += u.output;
    sum.cached += u.cached;
    sum.thoughts += u.thought;
    sum.toolUse += u.toolUse;
    sum.total += u.total;
    for (const c of u.counts) {
      const t = c.direction === 'input' ? sum.input : c.direction === 'output' ? sum.output : undefined;
      if (t) t.byModality[c.modality] = (t.byModality[c.modality] ?? 0) + c.tokens;
    }
  }

  /** The report as of now (calls still running count as cancelled, people still there have no `leftAt`). */
  build(): ConversationReport {
    const end = this.#now();
    for (const { call, started } of this.#running.values()) call.durationMs = Math.round(end - started);
    const gap = this.#gap && {
      ...this.#gap,
      text: `[… ${this.#gap.omittedEntries} entries (${this.#gap.omittedBytes} bytes) omitted …]`,
    };
    const omitted = Object.keys(this.#omitted).length ? { omitted: { ...this.#omitted } } : {};
    return structuredClone({
      version: REPORT_VERSION,
      ...this.head,
      startedAt: iso(this.#startedAt),
      endedAt: iso(end),
      durationMs: Math.round(end - this.#startedAt),
      participants: this.#participants,
      transcript: [
        ...this.#first.map((k) => k.entry),
        ...(gap ? [gap] : []),
        ...this.#last.map((k) => k.entry),
      ],
      toolCalls: this.#tools,
      reconnects: this.#reconnects,
      usage: this.#usage,
      errors: this.#errors,
      ...omitted,
    });
  }

  #args(args: Record<string, unknown>): Record<string, unknown> | string {
    const json = JSON.stringify(args) ?? '{}';
    return utf8(json) <= this.#limits.argsBytes ? args : cut(json, this.#limits.argsBytes);
  }

  #keep<T>(list: T[], item: T, kind: keyof NonNullable<ConversationReport['omitted']>): void {
    if (list.length < this.#limits.items) list.push(item);
    else this.#omitted[kind] = (this.#omitted[kind] ?? 0) + 1;
  }
}
