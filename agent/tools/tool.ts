import type { FunctionDeclaration } from '@google/genai';
import { z } from 'zod';
import type { FunctionBehavior, Scheduling } from '../../shared/gemini-models/index.ts';
import type { Logger } from '../log.ts';

/** What a running tool knows about its call. */
export interface ToolContext {
  /** The Live API's call id. */
  callId: string;
  /** Aborted on `toolCallCancellation`, time-out or shutdown. */
  signal: AbortSignal;
  /** Identity of the participant the call is on behalf of (the active talker), if known. */
  participantIdentity?: string;
  /** Calls an RPC method a room participant registered (client-side tools). */
  performRpc?: (params: {
    destinationIdentity: string;
    method: string;
    payload: string;
    responseTimeoutMs?: number;
  }) => Promise<string>;
  /** Identities of the humans in the room, in join order. */
  participants?: () => string[];
  logger: Logger;
}

/**
 * When the model hears back from a `NON_BLOCKING` tool (`FunctionResponseScheduling`): `INTERRUPT`
 * stops what it is saying, `WHEN_IDLE` waits for it to finish, `SILENT` only adds the result to the
 * context.
 */
export type ToolScheduling = Scheduling;

/** `BLOCKING`: the model waits for the result. `NON_BLOCKING`: it keeps talking meanwhile. */
export type ToolBehavior = FunctionBehavior;

/** A function the model may call. `parameters` is a zod object, turned into JSON Schema for the model. */
export interface Tool<S extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  parameters: S;
  /**
   * `BLOCKING`: the model waits for the result. `NON_BLOCKING`: the model keeps talking and the result
   * arrives with {@link Tool.scheduling}. Unset: the model's default (non-blocking on 3.8, blocking on
   * 2.5 and 3.1). A behaviour the model does not have is replaced by its default, with a warning.
   */
  behavior?: ToolBehavior;
  /** Delivery of a non-blocking result; the model's default (`WHEN_IDLE`) when unset. */
  scheduling?: ToolScheduling;
  /** Run-time limit, ms; the registry's default when unset. */
  timeoutMs?: number;
  /**
   * The declared parameters as JSON Schema, when they are not made from `parameters`: tools of MCP
   * servers come with JSON Schema (agent/mcp/schema.ts), and `parameters` then only checks for an object.
   */
  parametersJsonSchema?: Record<string, unknown>;
  /** Returns a JSON-serialisable result; throwing returns the error message to the model. */
  execute(args: z.infer<S>, ctx: ToolContext): Promise<unknown>;
}

/** Gemini's function-name rule: a letter or `_` first, then letters, digits, `_`, `.`, `-`; at most 64. */
export const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Identity helper that keeps `execute`'s argument type tied to the schema. */
export function defineTool<S extends z.ZodObject>(tool: Tool<S>): Tool<S> {
  return tool;
}

/**
 * The Live function declaration of a tool, with the behaviour it declares (live/setup.ts states the one
 * it gets on the room's model).
 */
export function toFunctionDeclaration(tool: Tool): FunctionDeclaration {
  const schema = tool.parametersJsonSchema ?? (z.toJSONSchema(tool.parameters) as Record<string, unknown>);
  delete schema.$schema;
  return {
    name: tool.name,
    description: tool.description,
    parametersJsonSchema: schema,
    ...(tool.behavior && { behavior: tool.behavior as FunctionDeclaration['behavior'] }),
  };
}
