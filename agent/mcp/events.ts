/**
 * What the MCP layer reports for metrics, through an `onEvent` callback (so it does not depend on the
 * metrics module). The metrics it is meant to feed:
 *
 * - `gemini_agent_mcp_servers_up{server}` gauge: 1 after `server_up`, 0 after `server_down`;
 * - `gemini_agent_mcp_server_failures_total{server}` counter: `server_down` (a failed connection attempt
 *   or a lost connection; each retry that fails counts again);
 * - `gemini_agent_mcp_calls_total{server,tool,outcome}` counter: `call`;
 * - `gemini_agent_mcp_call_seconds{server,tool}` histogram: `call.ms / 1000`;
 * - `gemini_agent_mcp_tools_refused_total{server}` counter: `tool_refused`.
 */

/**
 * How a call ended: `ok`; `tool_error` (the tool answered `isError`); `error` (the server refused the
 * request, e.g. invalid arguments); `timeout`; `disconnected` (crash or lost connection mid-call);
 * `unavailable` (the server was down, nothing sent); `cancelled` (the model cancelled or the session
 * closed).
 */
export type McpCallOutcome =
  | 'ok'
  | 'tool_error'
  | 'error'
  | 'timeout'
  | 'disconnected'
  | 'unavailable'
  | 'cancelled';

/** One event of the MCP layer. `server` is the configured name; no event carries a secret. */
export type McpEvent =
  | { type: 'server_up'; server: string; tools: number }
  | { type: 'server_down'; server: string; reason: string }
  | { type: 'tool_refused'; server: string; tool: string; reason: string }
  | { type: 'call'; server: string; tool: string; outcome: McpCallOutcome; ms: number };
