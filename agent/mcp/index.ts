/**
 * Tools from MCP servers (issue #15). The hook-up surface, see docs/mcp.md:
 *
 * - worker start: `parseMcpServers(process.env[MCP_SERVERS_ENV])` (throws `ConfigError`);
 * - each room: `narrowForRoom(workerServers, metadata.mcp)` (throws `ConfigError`), then
 *   `McpTools.start({ servers, logger, onEvent })`, `mcp.registry(baseRegistry)` for each Live session,
 *   `mcp.close()` when the job ends.
 */
export { McpCallError, type McpRetryOptions, McpServerClient } from './client.ts';
export {
  MCP_SERVERS_ENV,
  type McpRoomSelection,
  type McpServerConfig,
  type McpServerConfigInput,
  mcpRoomSelectionSchema,
  mcpServerSchema,
  narrowForRoom,
  parseMcpServers,
} from './config.ts';
export type { McpCallOutcome, McpEvent } from './events.ts';
export { McpTools, type McpToolsEvents, type McpToolsOptions } from './pool.ts';
export { redactor, safeUrl } from './redact.ts';
export { MAX_OUTPUT_CHARS, MAX_RESULT_CHARS, McpToolError, mapCallResult } from './result.ts';
export { type SchemaConversion, toGeminiParameters } from './schema.ts';
