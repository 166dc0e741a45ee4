import type { ClientContentSpec } from '../../shared/gemini-models/index.ts';
import { type HistoryTurn, historyInput, type LiveInput } from './input.ts';

/**
 * What a session resumed with an older handle did not hear — the turns after that handle (the
 * checkpoint's `sinceHandle`: the utterance being answered, the reply a crash cut) — as the one
 * `clientContent` its model takes on a resumed connection, sent before any other input:
 * - models that take history any time (catalogue `clientContent.history: 'any'`, 2.x): the turns with
 *   their roles, as a seed is;
 * - models that take model turns only as declared initial history (`'historyConfig'`, 3.x), which a
 *   resumed connection is not: every turn as a user turn, the model's own as bracketed notes of what
 *   it said (user-role `clientContent` is what they take at any time, as room notes are).
 *
 * `answer`: the last turn is one the model never finished answering and nobody is talking, so the
 * content ends with `turnComplete` and the model answers it now; otherwise it is context only (2.x:
 * without `turnComplete`; 3.x: part of the user turn under way, which the speech in progress ends).
 */
export function catchUpInput(turns: HistoryTurn[], rule: ClientContentSpec, answer: boolean): LiveInput {
  if (rule.history === 'any') return historyInput(turns, answer, answer);
  const asUser = turns.map(
    (t): HistoryTurn => (t.role === 'user' ? t : { role: 'user', text: modelNote(t) }),
  );
  return historyInput(asUser, answer, answer);
}

/** Whether the model owes an answer to the last of `turns`: a user's, or its own reply cut short. */
export function unanswered(turns: readonly HistoryTurn[]): boolean {
  const last = turns.at(-1);
  return last !== undefined && (last.role === 'user' || last.cut === true);
}

/** A model turn told to the model as a user-role note. */
function modelNote(t: HistoryTurn): string {
  return t.cut
    ? `[You were saying this when the connection was lost, and were cut off: "${t.text}"]`
    : `[You said: "${t.text}"]`;
}
