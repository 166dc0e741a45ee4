import type { FunctionDeclaration } from '@google/genai';
import type { RoomConfig, RoomConfigInput } from '../config/room.ts';
import type { ConversationReport } from '../report/types.ts';
import { FUNCTION_NAME, type Tool, toFunctionDeclaration } from '../tools/tool.ts';

/** What the hooks of an agent know about its room. */
export interface AgentRoomInfo {
  /** The LiveKit room name. */
  name: string;
  /** The room's metadata as set on the server (raw string; may be empty). */
  metadata: string;
  /** The dispatch's metadata (raw string; may be empty). */
  jobMetadata: string;
}

/** A finished model turn of one conversation. */
export interface AgentTurnEvent {
  room: string;
  /** What the agent said (its output transcription). */
  text: string;
  /** Cut short by a barge-in or a lost connection. */
  interrupted: boolean;
}

/** A finished tool call. */
export interface AgentToolCallEvent {
  room: string;
  id: string;
  name: string;
  ok: boolean;
  error?: string;
  /** The model cancelled it (`toolCallCancellation`) or the user barged in. */
  cancelled?: boolean;
}

/** Conversation events an agent may observe. A hook that throws is logged and otherwise ignored. */
export interface AgentEventHooks {
  /** The model finished a reply. */
  turn?: (event: AgentTurnEvent) => void | Promise<void>;
  /** A tool call finished (result, error or cancellation). */
  toolCall?: (event: AgentToolCallEvent) => void | Promise<void>;
  /** A Live session ended for good (the room emptied, the job ended, or the session failed). */
  sessionEnded?: (event: { room: string }) => void | Promise<void>;
}

/** Options of {@link defineGeminiAgent}. */
export interface GeminiAgentOptions {
  /**
   * The tools the model may call, made with `defineTool`. Every one is declared to the model unless the
   * room's configuration (`AGENT_TOOLS`, metadata `tools`, {@link GeminiAgentOptions.roomConfig}) picks
   * a subset. Names follow Gemini's function-name rules (letter or `_` first, then letters, digits,
   * `_`, `.`, `-`; at most 64) and are unique; checked when the agent is loaded.
   */
  tools?: readonly Tool[];
  /**
   * The system instruction: a string, or a function of the room (called once per room, before the
   * Live session opens). It replaces `AGENT_INSTRUCTIONS`; room or dispatch metadata
   * `systemInstruction` still overrides it, and {@link GeminiAgentOptions.roomConfig} has the last word.
   */
  instructions?: string | ((room: AgentRoomInfo) => string | Promise<string>);
  /**
   * Per-room configuration: called once per room with the room and the configuration resolved so far
   * (environment defaults ← room metadata ← dispatch metadata, with `instructions` applied). What it
   * returns is merged over that and wins: deployer code has the last word over what clients or
   * dispatchers put in metadata. Return `{}` (or nothing) to keep it. The result is validated like
   * metadata; a bad value fails the room with the reason in `lk.agent.error`.
   */
  roomConfig?: (
    room: AgentRoomInfo,
    resolved: RoomConfig,
  ) => Partial<RoomConfigInput> | undefined | Promise<Partial<RoomConfigInput> | undefined>;
  /**
   * Receives the conversation report when a room's job ends (bounded by the report deadline); the
   * report webhook (`AGENT_REPORT_WEBHOOK_URL`) is sent as well when configured. See docs/reports.md.
   */
  onReport?: (report: ConversationReport) => void | Promise<void>;
  /** Conversation event hooks. */
  on?: AgentEventHooks;
}

const AGENT = Symbol.for('gemini-livekit.agent');

/** A validated agent, as {@link defineGeminiAgent} returns it: the default export of an agent module. */
export interface GeminiAgent extends Readonly<GeminiAgentOptions> {
  readonly [AGENT]: true;
  readonly tools: readonly Tool[];
}

/** A bad agent definition; the message names each problem. */
export class AgentDefinitionError extends Error {
  override name = 'AgentDefinitionError';
}

/**
 * Defines an agent: the default export of an agent module (`npm run agent -- --agent ./my-agent.ts`
 * or `AGENT_MODULE`). Checks the tools at once and throws {@link AgentDefinitionError} listing every
 * problem: a bad or duplicate name, a missing description or `execute`, parameters that are not a
 * zod object or that cannot be turned into the JSON Schema Gemini takes.
 */
export function defineGeminiAgent(options: GeminiAgentOptions): GeminiAgent {
  const problems = agentProblems(options);
  if (problems.length) throw new AgentDefinitionError(`invalid agent:\n  - ${problems.join('\n  - ')}`);
  return Object.freeze({ ...options, tools: [...(options.tools ?? [])], [AGENT]: true as const });
}

/** Whether `value` was made by {@link defineGeminiAgent} (in this or another copy of the module). */
export function isGeminiAgent(value: unknown): value is GeminiAgent {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[AGENT] === true;
}

function agentProblems(o: GeminiAgentOptions): string[] {
  if (typeof o !== 'object' || o === null) return ['defineGeminiAgent needs an options object'];
  const problems: string[] = [];
  if (o.tools !== undefined && !Array.isArray(o.tools))
    problems.push('tools: must be an array of defineTool(...)');
  const seen = new Set<string>();
  for (const [i, tool] of (Array.isArray(o.tools) ? o.tools : []).entries()) {
    const where = `tools[${i}]${tool && typeof tool.name === 'string' ? ` (${tool.name})` : ''}`;
    if (typeof tool !== 'object' || tool === null) {
      problems.push(`${where}: not a tool (use defineTool)`);
      continue;
    }
    if (typeof tool.name !== 'string' || !FUNCTION_NAME.test(tool.name)) {
      problems.push(
        `${where}: name ${JSON.stringify(tool.name)} is not a Gemini function name (a letter or _ first, then letters, digits, _ . -; at most 64)`,
      );
    } else if (seen.has(tool.name)) {
      problems.push(`${where}: duplicate tool name ${tool.name}`);
    } else {
      seen.add(tool.name);
    }
    if (typeof tool.description !== 'string' || !tool.description.trim()) {
      problems.push(`${where}: description missing`);
    }
    if (typeof tool.execute !== 'function') problems.push(`${where}: execute is not a function`);
    const schemaProblem = declarationProblem(tool);
    if (schemaProblem) problems.push(`${where}: parameters: ${schemaProblem}`);
  }
  if (
    o.instructions !== undefined &&
    typeof o.instructions !== 'string' &&
    typeof o.instructions !== 'function'
  ) {
    problems.push('instructions: must be a string or a function of the room');
  }
  for (const k of ['roomConfig', 'onReport'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'function') problems.push(`${k}: must be a function`);
  }
  for (const [k, v] of Object.entries(o.on ?? {})) {
    if (!['turn', 'toolCall', 'sessionEnded'].includes(k))
      problems.push(`on.${k}: unknown event (turn, toolCall, sessionEnded)`);
    else if (v !== undefined && typeof v !== 'function') problems.push(`on.${k}: must be a function`);
  }
  return problems;
}

/** Why the tool's parameters cannot be declared to Gemini, if they cannot. */
function declarationProblem(tool: Tool): string | undefined {
  const p = tool.parameters as unknown as { _zod?: { def?: { type?: string } } } | undefined;
  if (!tool.parametersJsonSchema && p?._zod?.def?.type !== 'object')
    return 'must be a zod object (z.object({...}))';
  let decl: FunctionDeclaration;
  try {
    decl = toFunctionDeclaration(tool);
  } catch (err) {
    // zod refuses types JSON Schema has no word for (dates, functions, bigints, transforms…).
    return `Gemini cannot take this schema: ${err instanceof Error ? err.message : String(err)}`;
  }
  if ((decl.parametersJsonSchema as { type?: unknown } | undefined)?.type !== 'object') {
    return 'must describe an object';
  }
  return undefined;
}
