/**
 * Conversation state: what survives a reconnect through session resumption. Token accounting follows
 * the model's rates in the catalogue (audio per second, video per frame) and ≈ 4 characters per text
 * token.
 */

export function textTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** `promptTokensDetails` modalities the emulator counts (realtime image frames are VIDEO). */
export type Modality = 'TEXT' | 'AUDIO' | 'VIDEO';

export interface Entry {
  role: 'user' | 'model' | 'tool';
  modality: Modality;
  tokens: number;
  /** Text or transcript, for scenario templates and debugging. */
  text: string;
}

export interface Conversation {
  /** Stable across resumed connections. */
  sessionId: string;
  /** When the session (not the connection) began; session duration limits count from here. */
  startedAt: number;
  history: Entry[];
  /** User turns answered so far (drives scenario turn order and the default answers). */
  userTurns: number;
  /** Video frames arrived at some point: the shorter session limit applies. */
  videoSeen: boolean;
  /** Tokens of the system instruction, part of every prompt. */
  systemTokens: number;
  /** Tool call ids already issued (`call-N`). */
  callCounter: number;
  /** The model the session runs (a handle resumes only on it). */
  model?: string;
  /** Who may resume it: the API key, or the Vertex project (undefined: anyone, e.g. ephemeral tokens). */
  owner?: string;
}

export function newConversation(
  sessionId: string,
  startedAt: number,
  origin: { model?: string; owner?: string } = {},
): Conversation {
  return {
    ...origin,
    sessionId,
    startedAt,
    history: [],
    userTurns: 0,
    videoSeen: false,
    systemTokens: 0,
    callCounter: 0,
  };
}

/**
 * The last thing the user said before the turn whose text is `current`, as the context holds it: the
 * entries that make up the current turn (its text, or the pieces of a 3.x turn sent in several
 * `clientContent` messages) are skipped, and so are room notes and utterance placeholders (bracketed),
 * which are not things said. Undefined when the context holds none (a fresh session, or compressed away).
 */
export function rememberedBefore(history: readonly Entry[], current: string | undefined): string | undefined {
  let rest = current?.trim() ?? '';
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i]!;
    const text = e.text.trim();
    if (e.role !== 'user' || !text || /^\[.*\]$/s.test(text)) continue;
    if (rest !== '' && rest.endsWith(text)) {
      rest = rest.slice(0, rest.length - text.length).trim();
      continue;
    }
    return text;
  }
  return undefined;
}

export function cloneConversation(c: Conversation): Conversation {
  return { ...c, history: c.history.map((e) => ({ ...e })) };
}

export function contextTokens(c: Conversation): number {
  let sum = c.systemTokens;
  for (const e of c.history) sum += e.tokens;
  return sum;
}

/** Tokens per modality of the whole context (the prompt of the next turn). */
export function contextDetails(c: Conversation): { modality: string; tokenCount: number }[] {
  const by = new Map<string, number>();
  if (c.systemTokens) by.set('TEXT', c.systemTokens);
  for (const e of c.history) by.set(e.modality, (by.get(e.modality) ?? 0) + e.tokens);
  return [...by].map(([modality, tokenCount]) => ({ modality, tokenCount }));
}

/**
 * Sliding-window compression: once the context exceeds `triggerTokens`, drop the oldest entries until it
 * fits in `targetTokens`. Returns whether anything was dropped.
 */
export function compress(c: Conversation, triggerTokens: number, targetTokens: number): boolean {
  if (contextTokens(c) <= triggerTokens) return false;
  let total = contextTokens(c);
  let drop = 0;
  while (drop < c.history.length && total > targetTokens) total -= c.history[drop++]!.tokens;
  c.history.splice(0, drop);
  return drop > 0;
}
