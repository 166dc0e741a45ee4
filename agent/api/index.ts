/**
 * The public API of the agent: an agent module's default export is `defineGeminiAgent({...})`, its
 * tools are `defineTool({...})`. Run one with `npm run agent -- --agent ./my-agent.ts` (or
 * `AGENT_MODULE`). See agent/README.md, "Your own agent".
 */
export type { RoomConfig, RoomConfigInput } from '../config/room.ts';
export type { ConversationReport } from '../report/types.ts';
export {
  defineTool,
  type Tool,
  type ToolBehavior,
  type ToolContext,
  type ToolScheduling,
} from '../tools/tool.ts';
export {
  AgentDefinitionError,
  type AgentEventHooks,
  type AgentRoomInfo,
  type AgentToolCallEvent,
  type AgentTurnEvent,
  defineGeminiAgent,
  type GeminiAgent,
  type GeminiAgentOptions,
  isGeminiAgent,
} from './agent.ts';
