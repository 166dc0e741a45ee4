/**
 * The real worker (child process) with MCP servers from `AGENT_MCP_SERVERS` alone: a Streamable HTTP MCP
 * server on loopback (test/fixtures/mcp), a scripted model that calls its tool in a room, the result
 * voiced, the call counted on /metrics; a room selecting a server the worker lacks fails with the reason;
 * a server down at session start reaches the open session once it is up; a bad `AGENT_MCP_SERVERS`
 * stops the worker (exit 2) without echoing its secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './fixtures/agent/kit.ts';
import { agentIn, workerSuite } from './fixtures/agent/worker-suite.ts';
import { type HttpMcpFixture, startHttpMcp } from './fixtures/mcp/servers.ts';

const suite = workerSuite(
  {
    pacing: 4,
    scenario: {
      turns: [
        {
          steps: [{ toolCall: { name: 'fx_add', args: { a: 2, b: 40 } } }, { say: 'The sum is {{result}}' }],
        },
      ],
      loop: true,
    },
  },
  // 2.5: the MCP tool blocks and a join does not start a turn, so the scripted turn answers the speech.
  { GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025' },
);
let mcpServer: HttpMcpFixture;

beforeAll(async () => {
  mcpServer = await startHttpMcp();
}, 120_000);

afterAll(async () => {
  await mcpServer?.close();
}, 120_000);

const fxServers = (url: string) =>
  JSON.stringify([{ name: 'fx', transport: { type: 'http', url }, allowTools: ['add'] }]);

/** A worker with the `fx` server at `url` (default: the suite's), over `env`. */
const worker = (tag: string, env: Record<string, string> = {}, url = mcpServer.url) =>
  suite.worker(tag, { env: { AGENT_MCP_SERVERS: fxServers(url), ...env }, registered: false });

describe('agent worker with MCP servers (AGENT_MCP_SERVERS)', { timeout: 240_000 }, () => {
  it("the model calls the MCP server's tool in a room, the human hears its result, /metrics counts the call", async () => {
    const w = await worker('mcp', {});
    await w.registered();
    const alice = await suite.human('m-room', 'alice');
    await suite.dispatch.createDispatch('m-room', 'mcp');
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

  it('a server down when the session starts is offered to that session once it is up (contextUpdate), and its tool works', async () => {
    const late = await startHttpMcp({ down: true });
    suite.defer(() => late.close());
    const w = await worker('mcp-late', {}, late.url);
    await w.registered();
    const before = new Set(suite.stack.gemini.sessions());
    const alice = await suite.human('m-late', 'alice');
    await suite.dispatch.createDispatch('m-late', 'mcp-late');
    const agent = await until(() => agentIn(alice), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'agent listening');
    const live = await until(
      () => suite.stack.gemini.sessions().find((s) => !before.has(s) && !s.closed),
      "the room's Live session",
    );
    await w.line((l) => l.msg === 'mcp: server down, its tools are unavailable', 'the server down');
    expect(JSON.stringify(live.stats.setup)).not.toContain('fx_add');

    late.down = false;
    await until(() => live.stats.contextUpdates === 1, 'the new tools sent to the open session');
    expect(JSON.stringify(live.stats.setup)).toContain('"name":"fx_add"');
    expect(live.closed).toBe(false);
    await alice.mic.say(1.0);
    const said = await until(
      () => alice.finals(alice.agentTrackSid()!).find((t) => t.text.includes('The sum is')),
      'tool answer',
    );
    expect(said.text).toContain('42');
    expect(live.stats).toMatchObject({ toolCalls: 1, toolResponses: 1 });
  });

  it('a room whose metadata selects an MCP server the worker does not have fails with the reason', async () => {
    const w = await worker('mcp-bad-room', {});
    await w.registered();
    await suite.rooms.createRoom({ name: 'm-bad', metadata: JSON.stringify({ mcp: { servers: ['nope'] } }) });
    const alice = await suite.human('m-bad', 'alice');
    await suite.dispatch.createDispatch('m-bad', 'mcp-bad-room');
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
