/**
 * Scripted model behaviour. A scenario lists, per user turn, what the model "hears" and what it does:
 * speak a text, echo the user's audio, call tools (blocking or NON_BLOCKING, per the tool's declaration
 * in `setup.tools`), wait, send `goAway`, or close the connection. Turns are consumed in order across
 * the whole session (a resumed session continues where it left off); after the last one the default
 * behaviour applies (or the turns loop, with `loop: true`).
 *
 * Text in `say` may use `{{result}}` (JSON of the last tool response of the turn), `{{result.NAME}}`
 * (that tool's response), `{{text}}` (what the user said, or the transcript) and `{{turn}}` (1-based
 * user-turn number in the conversation).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const toolCallSpec = z.strictObject({
  /** Function name; should match a declaration in `setup.tools`. */
  name: z.string().min(1),
  args: z.record(z.string(), z.unknown()).default({}),
  /** Call id; generated (`call-N`) when absent. */
  id: z.string().optional(),
  /** NON_BLOCKING calls only: what the model says once the response arrives (scheduling permitting). */
  onResult: z.string().optional(),
});
export type ToolCallSpec = z.infer<typeof toolCallSpec>;

const step = z.union([
  /** Speak (or write, in TEXT modality) this text. */
  z.strictObject({ say: z.string() }),
  /** Speak the user's last utterance back (audio turns; text turns say the text). */
  z.strictObject({ echo: z.literal(true) }),
  /**
   * Send one `toolCall` with these function calls. Blocking calls pause the turn until every blocking
   * call has a response, or `timeoutMs` passes (then the turn goes on with a `null` result).
   */
  z.strictObject({
    toolCall: z.union([toolCallSpec, z.array(toolCallSpec).min(1)]),
    timeoutMs: z.number().int().positive().optional(),
  }),
  /** Send `goAway{timeLeft}` now and close with 1011 when it runs out (default 1 s). */
  z.strictObject({ goAway: z.strictObject({ timeLeftMs: z.number().int().nonnegative().default(1000) }) }),
  /** Pause the turn (the model "thinks"). */
  z.strictObject({ waitMs: z.number().int().nonnegative() }),
  /** Close the connection with this code (e.g. 1011 to test error handling). */
  z.strictObject({ close: z.strictObject({ code: z.number().int(), reason: z.string().default('') }) }),
]);
export type Step = z.infer<typeof step>;

export const turnSchema = z.strictObject({
  /** Input transcript for an audio turn, instead of the default `[speech 1.2s]`. */
  hear: z.string().optional(),
  steps: z.array(step),
});
export type ScenarioTurn = z.infer<typeof turnSchema>;

export const scenarioSchema = z.strictObject({
  /** Steps run right after `setupComplete` of a new (not resumed) session: a proactive greeting. */
  greeting: z.array(step).optional(),
  turns: z.array(turnSchema).default([]),
  /** Start over at the first turn after the last one, instead of falling back to the default. */
  loop: z.boolean().default(false),
});
export type Scenario = z.input<typeof scenarioSchema>;
export type ParsedScenario = z.output<typeof scenarioSchema>;

/** Validates a scenario object; throws an error naming the offending path. */
export function parseScenario(value: unknown): ParsedScenario {
  const result = scenarioSchema.safeParse(value);
  if (!result.success) throw new Error(`invalid scenario: ${z.prettifyError(result.error)}`);
  return result.data;
}

/** Reads and validates a JSON scenario file. */
export function loadScenario(path: string): ParsedScenario {
  return parseScenario(JSON.parse(readFileSync(path, 'utf8')));
}

/** The steps for user turn `index` (0-based), or `undefined` to use the default behaviour. */
export function scenarioTurn(scenario: ParsedScenario | undefined, index: number): ScenarioTurn | undefined {
  if (!scenario || scenario.turns.length === 0) return undefined;
  if (index < scenario.turns.length) return scenario.turns[index];
  return scenario.loop ? scenario.turns[index % scenario.turns.length] : undefined;
}

/** Fills `{{…}}` placeholders of a `say` text. */
export function renderTemplate(
  text: string,
  vars: { text: string; turn: number; result: unknown; results: Record<string, unknown> },
): string {
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, key: string) => {
    if (key === 'text') return vars.text;
    if (key === 'turn') return String(vars.turn);
    if (key === 'result') return JSON.stringify(vars.result ?? null);
    if (key.startsWith('result.')) {
      // Tool names are looked up as own keys: `{{result.constructor}}` is not Object's constructor.
      const name = key.slice(7);
      return JSON.stringify(Object.hasOwn(vars.results, name) ? (vars.results[name] ?? null) : null);
    }
    return whole;
  });
}

/** What a {@link Responder} learns about the user turn it answers. */
export interface TurnContext {
  /** 1-based user-turn number in the conversation (continues across resumption). */
  turn: number;
  trigger: 'speech' | 'activityEnd' | 'text' | 'clientContent';
  /** The text typed, or the default transcript of an utterance (`[speech 1.2s]`). */
  text: string;
  /** Utterance length for audio turns. */
  audioMs?: number;
  /** Conversation id (stable across resumed connections). */
  sessionId: string;
  /**
   * The last thing the user said before this turn that the context still holds (kept across resumption
   * with a handle, seeded by `clientContent` history, lost in a fresh session).
   */
  before?: string;
}

/**
 * Programmatic behaviour for tests: decides a user turn's steps (and transcript) from its content.
 * Returning `undefined` falls back to the scenario, then to the default behaviour.
 */
export type Responder = (ctx: TurnContext) => z.input<typeof turnSchema> | undefined;

/** Validates a responder's answer (applying defaults); throws naming the offending path. */
export function parseTurn(value: unknown): ScenarioTurn {
  const result = turnSchema.safeParse(value);
  if (!result.success) throw new Error(`invalid responder turn: ${z.prettifyError(result.error)}`);
  return result.data;
}
