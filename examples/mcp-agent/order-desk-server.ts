/**
 * An order desk as an MCP server, built with `@modelcontextprotocol/sdk` as real servers are: three
 * tools over an in-memory store of orders. Serves Streamable HTTP on loopback (the default) or stdio
 * (`--stdio`, for a worker that starts it itself). See README.md here.
 *
 *   node examples/mcp-agent/order-desk-server.ts            # http://127.0.0.1:8797/mcp
 *   ORDER_DESK_PORT=0 node examples/mcp-agent/order-desk-server.ts   # any free port, printed
 *   node examples/mcp-agent/order-desk-server.ts --stdio
 */
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

interface Order {
  customer: string;
  status: 'processing' | 'shipped' | 'delivered' | 'cancelled';
  eta: string;
  items: string[];
}

/** The store, shared by every client (a real desk would ask its database). A Map: keys come from the model. */
const ORDERS = new Map<string, Order>([
  ['A100', { customer: 'alice', status: 'shipped', eta: 'tomorrow', items: ['headphones'] }],
  ['B200', { customer: 'alice', status: 'processing', eta: 'in three days', items: ['desk lamp', 'bulbs'] }],
  ['C300', { customer: 'bob', status: 'delivered', eta: 'delivered on Monday', items: ['kettle'] }],
]);

const normalise = (id: string) => id.trim().toUpperCase();

/** An error the model can read and tell the user (`isError`: the call worked, the request did not). */
const refuse = (text: string) => ({ isError: true, content: [{ type: 'text' as const, text }] });

/** One MCP server (one per client session over HTTP, as the SDK's examples do). */
export function orderDesk(): McpServer {
  const server = new McpServer({ name: 'order-desk', version: '1.0.0' });
  server.registerTool(
    'lookup_order',
    {
      title: 'Look up an order',
      description: 'Status, delivery estimate and items of one order, by its id (like "A100").',
      inputSchema: { orderId: z.string().min(1).describe('The order id, e.g. "A100"') },
      outputSchema: { orderId: z.string(), status: z.string(), eta: z.string(), items: z.array(z.string()) },
      annotations: { readOnlyHint: true },
    },
    async ({ orderId }) => {
      const id = normalise(orderId);
      const order = ORDERS.get(id);
      if (!order) return refuse(`There is no order ${id}.`);
      const out = { orderId: id, status: order.status, eta: order.eta, items: order.items };
      return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out };
    },
  );
  server.registerTool(
    'list_orders',
    {
      title: 'List a customer’s orders',
      description: 'The ids and statuses of every order of a customer, by their user name.',
      inputSchema: { customer: z.string().min(1).describe('The customer, e.g. "alice"') },
      annotations: { readOnlyHint: true },
    },
    async ({ customer }) => {
      const who = customer.trim().toLowerCase();
      const orders = [...ORDERS].filter(([, o]) => o.customer === who).map(([id, o]) => `${id}: ${o.status}`);
      return {
        content: [{ type: 'text', text: orders.length ? orders.join('\n') : `No orders for ${who}.` }],
      };
    },
  );
  server.registerTool(
    'cancel_order',
    {
      title: 'Cancel an order',
      description: 'Cancels an order that has not shipped yet. Ask the user to confirm first.',
      inputSchema: {
        orderId: z.string().min(1).describe('The order id'),
        reason: z.string().max(200).optional().describe('Why, in the user’s words'),
      },
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    async ({ orderId }) => {
      const id = normalise(orderId);
      const order = ORDERS.get(id);
      if (!order) return refuse(`There is no order ${id}.`);
      if (order.status === 'cancelled')
        return { content: [{ type: 'text', text: `${id} was cancelled already.` }] };
      if (order.status !== 'processing')
        return refuse(
          `${id} has ${order.status === 'shipped' ? 'shipped' : 'been delivered'}: it can be returned, not cancelled.`,
        );
      order.status = 'cancelled';
      return { content: [{ type: 'text', text: `${id} is cancelled.` }] };
    },
  );
  return server;
}

/** Streamable HTTP on `host:port`, one transport per MCP session; resolves with the endpoint's URL. */
export async function serveHttp(
  port: number,
  host = '127.0.0.1',
): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!transport) {
      // A request naming a session we do not have (e.g. after a restart): the client starts a new one.
      if (sid || req.method !== 'POST') {
        res.writeHead(404).end('unknown MCP session');
        return;
      }
      const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, t);
        },
      });
      t.onclose = () => {
        if (t.sessionId) sessions.delete(t.sessionId);
      };
      await orderDesk().connect(t);
      transport = t;
    }
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(port, host, resolve));
  const { port: bound } = http.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}/mcp`,
    async close() {
      await Promise.all([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

// Run as a program (not imported): the path node was given is this file.
if (process.argv[1] && realpathSync(process.argv[1]) === import.meta.filename) {
  if (process.argv.includes('--stdio')) {
    // stdout is the protocol's: nothing else may be printed there.
    await orderDesk().connect(new StdioServerTransport());
    process.stderr.write('order desk MCP server on stdio\n');
  } else {
    const { url } = await serveHttp(Number(process.env.ORDER_DESK_PORT ?? 8797));
    // Alone on the first line, for scripts (and the test) to read.
    console.log(url);
    console.error('order desk MCP server ready (Streamable HTTP); Ctrl-C to stop');
  }
}
