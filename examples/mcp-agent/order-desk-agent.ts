/**
 * The agent for the order desk: no tools of its own, instructions that point the model at the MCP
 * server's tools (`orders_lookup_order`, `orders_list_orders`, `orders_cancel_order`: the server is
 * named `orders` in AGENT_MCP_SERVERS, and its tools get that prefix). README.md here.
 */
import { defineGeminiAgent } from '../../agent/api/index.ts';

export default defineGeminiAgent({
  instructions: (room) =>
    `You are the order desk of a shop, in room ${room.name}. Look orders up with orders_lookup_order ` +
    'or orders_list_orders; cancel one with orders_cancel_order only after the caller confirmed. Be brief.',
  // Only the order desk, whatever the room metadata selects: deployer code has the last word.
  roomConfig: () => ({ mcp: { servers: ['orders'] } }),
  on: {
    toolCall: (e) =>
      console.log(`[order-desk] ${e.room}: ${e.name} ${e.ok ? 'ok' : (e.error ?? 'cancelled')}`),
  },
});
