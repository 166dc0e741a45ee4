/**
 * The emulator's "model": what it hears and what it answers. Pure functions, no I/O — the session
 * state machine asks for a plan per user turn and for the audio of a text it must speak.
 *
 * Order of precedence for a user turn: the programmatic `respond()` hook, then the scenario's turn, then
 * the default (echo an utterance; answer text with a fixed sentence that counts the turns).
 */
import { speechLike } from '../../shared/audio/generate.ts';
import type { ModelProfile } from './profiles.ts';
import { type ParsedScenario, parseTurn, type Responder, type Step, scenarioTurn } from './scenario.ts';
import { voicePitch } from './voices.ts';

/** A user turn as the model sees it. */
export interface UserTurn {
  trigger: 'speech' | 'activityEnd' | 'text' | 'clientContent';
  /** 1-based number of this user turn in the conversation. */
  turn: number;
  sessionId: string;
  /** Typed text; absent for audio. */
  text?: string;
  /** Utterance length for audio turns. */
  audioMs?: number;
  /** The last thing the user said before this turn that the model still holds in its context. */
  before?: string;
}

export interface TurnPlan {
  /** What the model understood: the typed text, or the utterance's transcript. */
  transcript: string;
  steps: Step[];
}

/** Default transcript of an utterance: the emulator cannot recognise words, so it reports the length. */
export function speechTranscript(audioMs: number): string {
  return `[speech ${(audioMs / 1000).toFixed(1)}s]`;
}

/**
 * Default answer to a text turn: what it heard, how many user turns its context holds (this one
 * included), and the last thing said before it — so a test can tell a resumed or reseeded
 * conversation from a fresh one.
 */
export function defaultAnswer(text: string, turn: number, before?: string): string {
  const memory = before === undefined ? '' : ` Before that: "${before}".`;
  return `You said "${text}". That is turn ${turn} of this conversation.${memory}`;
}

/** Decides a user turn. Throws if the responder throws or returns an invalid turn. */
export function planTurn(
  input: UserTurn,
  scenario: ParsedScenario | undefined,
  respond: Responder | undefined,
  model: Pick<ModelProfile, 'transcript' | 'answer'> = {
    transcript: speechTranscript,
    answer: defaultAnswer,
  },
): TurnPlan {
  const heard = input.audioMs !== undefined ? model.transcript(input.audioMs) : (input.text ?? '');
  const answer = respond?.({
    turn: input.turn,
    trigger: input.trigger,
    text: heard,
    audioMs: input.audioMs,
    sessionId: input.sessionId,
    ...(input.before !== undefined && { before: input.before }),
  });
  const scripted = answer !== undefined ? parseTurn(answer) : scenarioTurn(scenario, input.turn - 1);
  const transcript = input.audioMs !== undefined ? (scripted?.hear ?? heard) : heard;
  const steps =
    scripted?.steps ??
    (input.audioMs !== undefined
      ? [{ echo: true as const }]
      : [{ say: model.answer(heard, input.turn, input.before) }]);
  return { transcript, steps };
}

/**
 * The synthetic voice for a text: speech-like audio at `rate`, 60 ms per character (0.4–10 s), pitched
 * per voice, deterministic for a given text.
 */
export function synthesize(text: string, voice: string, rate: number): Int16Array {
  return speechLike(Math.min(10, Math.max(0.4, text.length * 0.06)), rate, {
    f0: voicePitch(voice),
    seed: text.length + 1,
  });
}
