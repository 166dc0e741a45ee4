/**
 * The real worker (child process) with MCP servers from `AGENT_MCP_SERVERS` alone: a Streamable HTTP MCP
 * server on loopback (test/fixtures/mcp), a scripted model that calls its tool in a room, the result
 * voiced, the call counted on /metrics; a room selecting a server the worker lacks fails with the reason;
 * a bad `AGENT_MCP_SERVERS` stops the worker (exit 2) without echoing its secret.
 */
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Human, type Stack, startStack, until } from './fixtures/agent/kit.ts';
import { type HttpMcpFixture, startHttpMcp } from './fixtures/mcp/servers.ts';
import { AgentWorker } from './scale-helpers.ts';

let stack: Stack;
let mcpServer: HttpMcpFixture;
let dispatch: AgentDispatchClient;
let rooms: RoomServiceClient;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await startStack({
    pacing: 4,
    scenario: {
      turns: [
        {
          steps: [{ toolCall: { name: 'fx_add', args: { a: 2, b: 40 } } }, { say: 'The sum is {{result}}' }],
        },
      ],
      loop: true,
    },
  });
  mcpServer = await startHttpMcp();
  dispatch = new AgentDispatchClient(stack.lk.url, stack.lk.apiKey, stack.lk.apiSecret);
  rooms = new RoomServiceClient(stack.lk.url, stack.lk.apiKey, stack.lk.apiSecret);
}, 120_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
}, 120_000);

afterAll(async () => {
  await mcpServer?.close();
  await stack?.close();
}, 120_000);

async function worker(tag: string, env: Record<string, string>): Promise<AgentWorker> {
  const w = await AgentWorker.start({
    livekit: stack.lk,
    geminiUrl: stack.gemini.url,
    tag,
    env: {
      AGENT_NAME: tag,
      // 2.5: the MCP tool blocks and a join does not start a turn, so the scripted turn answers the speech.
      GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025',
      AGENT_MCP_SERVERS: JSON.stringify([
        { name: 'fx', transport: { type: 'http', url: mcpServer.url }, allowTools: ['add'] },
      ]),
      ...env,
    },
  });
  cleanups.push(() => w.stop());
  return w;
}

async function human(room: string, identity: string): Promise<Human> {
  const h = await Human.join(stack.lk, room, identity);
  cleanups.push(() => h.close());
  return h;
}

const agentIn = (h: Human) =>
  [...h.room.remoteParticipants.values()].find((p) => p.identity.startsWith('agent'));

describe('agent worker with MCP servers (AGENT_MCP_SERVERS)', { timeout: 240_000 }, () => {
  it("the model calls the MCP server's tool in a room, the human hears its result, /metrics counts the call", async () => {
    const w = await worker('mcp', {});
    await w.registered();
    const alice = await human('m-room', 'alice');
    await dispatch.createDispatch('m-room', 'mcp');
    const agent = await until(() => agentIn(alice), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'agent listening');
    await until(
      async () => (await w.value('gemini_agent_mcp_servers_up', { server: 'fx' })) === 1,
      'mcp_servers_up{server="fx"} 1',
    );
    await alice.mic.say(1.0);
    const said = await until(
      () => alice.finals(alice.agentTrackSid()!).find((t) => t.text.includes('The sum is')),
      'tool answer',
    );
    expect(said.text).toContain('42');
    // The transcript's final text can arrive before the audio it belongs to has played at the human.
    await until(() => alice.heardMs() > 0, 'the answer heard');
    await until(
      async () =>
        (await w.value('gemini_agent_mcp_calls_total', { server: 'fx', tool: 'add', outcome: 'ok' })) === 1,
      'mcp_calls_total{server="fx",tool="add",outcome="ok"} 1',
    );
  });

  it('a room whose metadata selects an MCP server the worker does not have fails with the reason', async () => {
    const w = await worker('mcp-bad-room', {});
    await w.registered();
    await rooms.createRoom({ name: 'm-bad', metadata: JSON.stringify({ mcp: { servers: ['nope'] } }) });
    const alice = await human('m-bad', 'alice');
    await dispatch.createDispatch('m-bad', 'mcp-bad-room');
    const agent = await until(() => agentIn(alice), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'failed', 'failed state');
    expect(agent.attributes['lk.agent.error']).toMatch(
      /mcp\.servers: unknown MCP server nope; configured: fx/,
    );
  });

  it('an invalid AGENT_MCP_SERVERS stops the worker (exit 2) naming the problem, never its secret', async () => {
    const secret = 'mcp-secret-token-123';
    const w = await worker('mcp-bad-env', {
      AGENT_MCP_SERVERS: JSON.stringify([
        { name: 'fx', transport: { type: 'http', url: 'not a url', headers: { Authorization: secret } } },
      ]),
    });
    expect((await w.exited).code).toBe(2);
    expect(w.output).toMatch(/AGENT_MCP_SERVERS/);
    expect(w.output).not.toContain(secret);
  });
});
