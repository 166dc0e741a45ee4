/**
 * examples/mcp-agent and examples/report-receiver as their READMEs run them: the order desk MCP server
 * and the report receiver are started with their own commands (child processes), the real worker runs
 * the example's agent file with the example's server list, the scripted model calls the order desk's
 * tool and voices its result, and when the room empties the job's report reaches the receiver, which
 * verifies it with WebhookReceiver, stores it and prints its summary. The stdio server list is used as
 * it is. (examples/custom-agent is run in test/agent-api.test.ts.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ConversationReport } from '../agent/report/types.ts';
import { until } from './fixtures/agent/kit.ts';
import { agentIn, workerSuite } from './fixtures/agent/worker-suite.ts';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

const suite = workerSuite(
  {
    pacing: 4,
    scenario: {
      turns: [
        {
          steps: [
            { toolCall: { name: 'orders_lookup_order', args: { orderId: 'a100' } } },
            { say: 'Your order: {{result.orders_lookup_order}}' },
          ],
        },
      ],
    },
  },
  // 2.5: the MCP tool blocks and a join does not start a turn, so the scripted turn answers the speech.
  { GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025' },
);

/** An example's server run as its README says (`node examples/…`); its URL is its first stdout line. */
async function example(
  script: string,
  env: Record<string, string>,
): Promise<{ url: string; output: () => string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(EXAMPLES, script)], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  suite.defer(async () => {
    child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const url = await until(() => {
    if (child.exitCode !== null) throw new Error(`${script} exited ${child.exitCode}:\n${out}`);
    return /^(http:\/\/\S+)\n/.exec(out)?.[1];
  }, `${script} listening`);
  return { url, output: () => out, child };
}

describe('examples/mcp-agent and examples/report-receiver beside the worker', { timeout: 240_000 }, () => {
  it("the order desk's MCP tool is called and voiced; the room's report reaches the receiver, verified, stored and summarised", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reports-'));
    suite.defer(async () => rmSync(dir, { recursive: true, force: true }));
    const desk = await example('mcp-agent/order-desk-server.ts', { ORDER_DESK_PORT: '0' });
    const receiver = await example('report-receiver/receiver.ts', {
      REPORT_RECEIVER_PORT: '0',
      REPORTS_DIR: dir,
      LIVEKIT_API_KEY: suite.stack.lk.apiKey,
      LIVEKIT_API_SECRET: suite.stack.lk.apiSecret,
    });
    // The example's server list, pointed at the port this run got.
    const servers = JSON.parse(readFileSync(join(EXAMPLES, 'mcp-agent/mcp-servers.json'), 'utf8'));
    servers[0].transport.url = desk.url;
    await suite.worker('examples', {
      args: ['--agent', join(EXAMPLES, 'mcp-agent/order-desk-agent.ts')],
      env: {
        AGENT_MCP_SERVERS: JSON.stringify(servers),
        AGENT_REPORT_WEBHOOK_URL: receiver.url,
        AGENT_EMPTY_ROOM_TIMEOUT_S: '1',
      },
    });
    const before = new Set(suite.stack.gemini.sessions());
    const alice = await suite.human('orders-room', 'alice');
    await suite.dispatch.createDispatch('orders-room', 'examples');
    const agent = await until(() => agentIn(alice), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'agent listening');
    const live = await until(
      () => suite.stack.gemini.sessions().find((s) => !before.has(s) && !s.closed),
      "the room's Live session",
    );
    const setup = JSON.stringify(live.stats.setup);
    expect(setup).toContain('You are the order desk of a shop, in room orders-room.');
    for (const tool of ['orders_lookup_order', 'orders_list_orders', 'orders_cancel_order'])
      expect(setup).toContain(`"name":"${tool}"`);
    expect(setup).not.toContain('get_weather');

    await alice.mic.say(0.8);
    const answer = await until(
      () => alice.finals(alice.agentTrackSid()!).find((t) => t.text.includes('Your order')),
      'the order answer',
    );
    expect(answer.text).toContain('"orderId":"A100"');
    expect(answer.text).toContain('"status":"shipped"');
    await until(() => alice.heardMs() > 0, 'the answer heard');

    // Anyone can reach the endpoint: a report not signed with the worker's key is refused, not stored.
    const forged = await fetch(receiver.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/webhook+json', Authorization: 'not-a-jwt' },
      body: JSON.stringify({ event: 'conversation_report', id: 'RP_forged', report: { version: 1 } }),
    });
    expect(forged.status).toBe(401);

    // Everyone leaves: the job ends (AGENT_EMPTY_ROOM_TIMEOUT_S) and POSTs its report.
    await alice.close();
    const file = await until(() => readdirSync(dir).find((f) => f.endsWith('.json')), 'the report stored');
    expect(readdirSync(dir)).toEqual([file]);
    const report = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ConversationReport;
    expect(report).toMatchObject({
      version: 1,
      room: { name: 'orders-room' },
      agentIdentity: agent.identity,
      participants: [{ identity: 'alice', leftAt: expect.any(String) }],
      toolCalls: [{ name: 'orders_lookup_order', args: { orderId: 'a100' }, outcome: 'ok' }],
    });
    const said = report.transcript.flatMap((t) => ('speaker' in t ? [`${t.speaker.kind}: ${t.text}`] : []));
    expect(said[0]).toMatch(/^user: \[speech/);
    expect(said[1]).toMatch(/^agent: Your order: .*"status":"shipped"/);
    const id = file.replace(/\.json$/, '');
    await until(() => receiver.output().includes(`report ${id}: room orders-room`), 'the summary');
    const summary = receiver.output().slice(receiver.output().indexOf(`report ${id}`));
    expect(summary).toContain('participants: alice');
    expect(summary).toContain('turns: 1 spoken by users, 0 chat, 1 by the agent');
    expect(summary).toMatch(/tool calls: orders_lookup_order ok \d+ ms/);
    expect(summary).toMatch(/tokens: \d+ in, \d+ out, \d+ total/);
  });

  it('mcp-servers.stdio.json as it is: the worker starts the order desk itself over stdio, and its tool answers', async () => {
    // Paths in the file, and the file's own, are relative to where the worker runs: the repository root.
    const root = fileURLToPath(new URL('..', import.meta.url));
    expect(process.cwd()).toBe(root.replace(/\/$/, ''));
    await suite.worker('examples-stdio', {
      args: ['--agent', join(EXAMPLES, 'mcp-agent/order-desk-agent.ts')],
      env: { AGENT_MCP_SERVERS: 'examples/mcp-agent/mcp-servers.stdio.json' },
    });
    const bob = await suite.human('orders-stdio', 'bob');
    await suite.dispatch.createDispatch('orders-stdio', 'examples-stdio');
    const agent = await until(() => agentIn(bob), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'agent listening');
    await bob.mic.say(0.8);
    const answer = await until(
      () => bob.finals(bob.agentTrackSid()!).find((t) => t.text.includes('Your order')),
      'the order answer',
    );
    expect(answer.text).toContain('"status":"shipped"');
  });
});
