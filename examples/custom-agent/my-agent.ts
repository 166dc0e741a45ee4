/**
 * A custom agent: its own tool (`lookup_order`), instructions per room, a per-room hook and event
 * hooks. Run it with `npm run agent -- --agent examples/custom-agent/my-agent.ts` (README.md here).
 */
import { z } from 'zod';
import { defineGeminiAgent, defineTool } from '../../agent/api/index.ts';

// A Map, not an object: the key comes from the model.
const ORDERS = new Map([
  ['A100', { status: 'shipped', eta: 'tomorrow' }],
  ['B200', { status: 'processing', eta: 'in three days' }],
]);

/** Looks an order up in a fixed table (a real agent would ask its own service, passing `signal`). */
export const lookupOrder = defineTool({
  name: 'lookup_order',
  description: 'Status and delivery estimate of an order, by its order id (like "A100").',
  parameters: z.object({ orderId: z.string().min(1).describe('The order id, e.g. "A100"') }),
  behavior: 'BLOCKING',
  timeoutMs: 5000,
  async execute({ orderId }, { signal }) {
    signal.throwIfAborted();
    const order = ORDERS.get(orderId.trim().toUpperCase());
    if (!order) throw new Error(`no order ${orderId}`);
    return { orderId, ...order };
  },
});

export default defineGeminiAgent({
  tools: [lookupOrder],
  instructions: (room) =>
    `You are the order desk of a shop, in room ${room.name}. Look orders up with lookup_order; be brief.`,
  // Deployer code has the last word: this agent only ever offers its own tool.
  roomConfig: () => ({ tools: ['lookup_order'] }),
  on: {
    toolCall: (e) => console.log(`[my-agent] ${e.room}: ${e.name} ${e.ok ? 'ok' : (e.error ?? 'cancelled')}`),
  },
});
