import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FunctionResponse } from '@google/genai';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../agent/config/error.ts';
import { resolveRoomConfig } from '../agent/config/room.ts';
import { LiveSession } from '../agent/live/session.ts';
import { buildLiveConfig } from '../agent/live/setup.ts';
import type { Logger } from '../agent/log.ts';
import {
  MAX_OUTPUT_CHARS,
  type McpEvent,
  type McpServerConfigInput,
  McpTools,
  mapCallResult,
  mcpServerSchema,
  narrowForRoom,
  parseMcpServers,
  redactor,
  toGeminiParameters,
} from '../agent/mcp/index.ts';
import { weatherTool } from '../agent/tools/examples.ts';
import { ToolRegistry } from '../agent/tools/registry.ts';
import { ToolRunner } from '../agent/tools/runner.ts';
import { start as startGemini } from '../emulators/gemini-live/index.ts';
import { type HttpMcpFixture, rawSchemaServer, startHttpMcp, toolServer } from './fixtures/mcp/servers.ts';
import { waitFor } from './fixtures/wait.ts';

const STDIO_SERVER = fileURLToPath(new URL('./fixtures/mcp/stdio-server.ts', import.meta.url));

/** Every log line, with the bindings of its child loggers, as the JSON a log shipper would get. */
function recordingLogger(): { logger: Logger; text: () => string; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const write = (obj: object | string, msg?: string) =>
      lines.push(typeof obj === 'string' ? { ...bindings, msg: obj } : { ...bindings, ...obj, msg });
    return {
      debug: write,
      info: write,
      warn: write,
      error: write,
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return { logger: make({}), text: () => JSON.stringify(lines), lines };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function httpFixture(options: Parameters<typeof startHttpMcp>[0] = {}): Promise<HttpMcpFixture> {
  const f = await startHttpMcp(options);
  closers.push(() => f.close());
  return f;
}

/** The room's MCP tools (servers parsed like the worker's), driven by the agent's ToolRunner. */
async function room(servers: McpServerConfigInput[], base: ToolRegistry = new ToolRegistry()) {
  const log = recordingLogger();
  const events: McpEvent[] = [];
  const mcp = await McpTools.start({
    servers: servers.map((s) => mcpServerSchema.parse(s)),
    logger: log.logger,
    onEvent: (e) => events.push(e),
    retry: { initialMs: 20, maxMs: 200 },
  });
  closers.push(() => mcp.close());
  const call = async (
    name: string,
    args: Record<string, unknown> = {},
  ): Promise<FunctionResponse['response']> => {
    const sent: FunctionResponse[][] = [];
    const runner = new ToolRunner({
      registry: mcp.registry(base),
      respond: (rs) => sent.push(rs),
      context: () => ({ logger: log.logger }),
    });
    await runner.handle([{ id: `c-${name}`, name, args }]);
    return sent[0]?.[0]?.response;
  };
  return { mcp, log, events, call };
}

const calls = (events: McpEvent[]) =>
  events
    .filter((e): e is Extract<McpEvent, { type: 'call' }> => e.type === 'call')
    .map((e) => `${e.tool}:${e.outcome}`);

describe('MCP configuration', () => {
  it('parses the worker servers from JSON or a file, expanding variables without echoing values', () => {
    // The placeholder syntax is the point: a literal `${TOKEN}` in the JSON, expanded by the parser.
    const ref = (name: string) => `\${${name}}`;
    const json = JSON.stringify([
      {
        name: 'search',
        transport: {
          type: 'http',
          url: 'https://mcp.example/x',
          headers: { Authorization: `Bearer ${ref('TOKEN')}` },
        },
      },
      {
        name: 'files',
        transport: { type: 'stdio', command: 'node', args: ['s.js'] },
        timeoutMs: 5000,
        prefix: '',
      },
    ]);
    const servers = parseMcpServers(json, { env: { TOKEN: 'tok-123456' } });
    expect(servers[0]!.transport).toEqual({
      type: 'http',
      url: 'https://mcp.example/x',
      headers: { Authorization: 'Bearer tok-123456' },
    });
    expect(servers[1]).toMatchObject({
      name: 'files',
      timeoutMs: 5000,
      connectTimeoutMs: 10_000,
      prefix: '',
    });
    expect(parseMcpServers('/etc/mcp.json', { readFile: () => json, env: { TOKEN: 'x' } })).toHaveLength(2);
    expect(parseMcpServers('')).toEqual([]);

    const missing = () => parseMcpServers(json, { env: {} });
    expect(missing).toThrow(ConfigError);
    expect(missing).toThrow(/0\.transport\.headers\.Authorization: names \$\{TOKEN\}, which is not set/);
    const bad = JSON.stringify([
      { name: 'a', transport: { type: 'http', url: 'ftp://secret-host/x' } },
      { name: 'a', transport: { type: 'stdio', command: 'x' } },
    ]);
    let message = '';
    try {
      parseMcpServers(bad);
    } catch (err) {
      message = String(err);
    }
    expect(message).toMatch(/0\.transport\.url: must be an http:\/\/ or https:\/\/ URL/);
    expect(message).toMatch(/1\.name: a appears twice/);
    expect(message).not.toContain('secret-host');
    expect(() => parseMcpServers('[{"name": "x",')).toThrow(
      /AGENT_MCP_SERVERS: not valid JSON \(at character 14\)$/,
    );
    expect(() => parseMcpServers('/nonexistent/mcp.json')).toThrow(/nor a readable file \(ENOENT\)/);
  });

  it('narrows per room: picks configured servers and allow-lists tools, never adds a server', () => {
    const worker = parseMcpServers(
      JSON.stringify([
        { name: 'search', transport: { type: 'http', url: 'https://a.example/mcp' } },
        {
          name: 'cal',
          transport: { type: 'http', url: 'https://b.example/mcp' },
          allowTools: ['list', 'add'],
        },
      ]),
    );
    expect(narrowForRoom(worker, undefined).map((s) => s.name)).toEqual(['search', 'cal']);
    expect(narrowForRoom(worker, { servers: [] })).toEqual([]);
    const narrowed = narrowForRoom(worker, { servers: ['cal'], tools: { cal: ['list'] } });
    expect(narrowed).toEqual([{ ...worker[1], allowTools: ['list'] }]);

    const refused = (selection: unknown) => {
      try {
        narrowForRoom(worker, selection);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ servers: ['https://evil.example/mcp'] })).toMatch(
      /mcp\.servers\.0: only names a server the worker configured \(AGENT_MCP_SERVERS\); a URL, command or transport in room metadata is refused/,
    );
    expect(refused({ url: 'https://evil.example/mcp' })).toMatch(
      /mcp\.url: only names a server the worker configured/,
    );
    expect(refused({ servers: ['nope'] })).toMatch(/unknown MCP server nope; configured: search, cal/);
    expect(refused({ servers: ['cal'], tools: { cal: ['delete'] } })).toMatch(
      /mcp\.tools\.cal: not allowed by the worker: delete/,
    );
    expect(refused({ servers: ['search'], tools: { cal: ['list'] } })).toMatch(
      /the server is not in mcp\.servers/,
    );
  });
});

describe('MCP schema conversion', () => {
  it('inlines local $refs, rewrites oneOf/const, drops annotations and refuses what a declaration cannot hold', () => {
    const r = toGeminiParameters({
      type: 'object',
      properties: { a: { $ref: '#/$defs/A' }, b: { allOf: [{ $ref: '#/$defs/A' }], description: 'b' } },
      $defs: { A: { type: 'string', enum: ['x', 'y'], examples: ['x'] } },
    });
    expect(r).toEqual({
      ok: true,
      schema: {
        type: 'object',
        properties: {
          a: { type: 'string', enum: ['x', 'y'] },
          b: { type: 'string', enum: ['x', 'y'], description: 'b' },
        },
      },
      dropped: ['$defs', 'examples'],
    });
    const reason = (s: unknown) => {
      const c = toGeminiParameters(s);
      return c.ok ? 'accepted' : c.reason;
    };
    expect(
      reason({ type: 'object', properties: { x: { allOf: [{ type: 'string' }, { minLength: 1 }] } } }),
    ).toBe('#/properties/x: allOf with 2 schemas');
    expect(reason({ type: 'object', properties: { x: { enum: [{ a: 1 }] } } })).toMatch(
      /enum values must be scalars/,
    );
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 20; i++) deep = { type: 'object', properties: { n: deep } };
    expect(reason(deep)).toMatch(/nested deeper than 16 levels/);
  });

  it('offers the tools of a real server whose schemas convert and refuses the others with a log line', async () => {
    const f = await httpFixture({ make: () => rawSchemaServer() });
    const { mcp, log, events, call } = await room([{ name: 'raw', transport: { type: 'http', url: f.url } }]);
    expect(mcp.tools().map((t) => t.name)).toEqual(['raw_book']);
    const refusals = Object.fromEntries(
      events.flatMap((e) => (e.type === 'tool_refused' ? [[e.tool, e.reason]] : [])),
    );
    expect(refusals).toEqual({
      tree: 'input schema: #/properties/root/properties/children/items: recursive $ref #/$defs/Node',
      negated: 'input schema: #/properties/x/not: not is not supported',
      tuple: 'input schema: #/properties/pair/prefixItems: prefixItems is not supported',
      remote_ref:
        'input schema: #/properties/x: $ref https://example.com/schema.json is not a local definition (#/$defs/… or #/definitions/…)',
      'bad name!': '"raw_bad name!" is not a valid function name',
    });
    expect(log.lines.filter((l) => l.msg === 'mcp: tool refused, not offered to the model')).toHaveLength(5);
    const [decl] = mcp.registry(new ToolRegistry()).declarations();
    expect(decl).toEqual({
      name: 'raw_book',
      description: 'raw schema book',
      parametersJsonSchema: {
        type: 'object',
        properties: {
          from: {
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
            description: 'where to start',
          },
          to: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          class: { anyOf: [{ enum: ['economy'] }, { enum: ['business'] }] },
          seats: { type: 'integer', minimum: 1 },
        },
        required: ['from', 'to'],
      },
    });
    expect(await call('raw_book', { from: { city: 'Bern' }, to: { city: 'Oslo' } })).toEqual({
      output: '{"from":{"city":"Bern"},"to":{"city":"Oslo"}}',
    });
  });
});

describe('MCP tools through the tool runner', () => {
  it('calls tools of a Streamable HTTP server and maps text, structured content, isError and bad arguments', async () => {
    const f = await httpFixture();
    const { mcp, events, call } = await room(
      [{ name: 'fx', transport: { type: 'http', url: f.url }, allowTools: ['echo', 'add', 'fail'] }],
      new ToolRegistry([weatherTool]),
    );
    expect(mcp.servers).toEqual([{ name: 'fx', state: 'up', tools: 3 }]);
    const decls = mcp.registry(new ToolRegistry([weatherTool])).declarations();
    expect(decls.map((d) => d.name)).toEqual(['get_weather', 'fx_echo', 'fx_add', 'fx_fail']);
    expect(decls[1]!.parametersJsonSchema).toMatchObject({
      type: 'object',
      properties: { text: { type: 'string', description: 'what to say' } },
      required: ['text'],
    });
    expect(await call('fx_echo', { text: 'hi' })).toEqual({ output: 'echo: hi' });
    expect(await call('fx_add', { a: 2, b: 3 })).toEqual({ output: { sum: 5 } });
    expect(await call('fx_fail')).toEqual({ error: 'the printer is on fire' });
    expect(String((await call('fx_echo', { text: 5 }))?.error)).toMatch(/text/);
    expect(await call('get_weather', { city: 'Paris' })).toMatchObject({ output: { temperature: 17 } });
    expect(await call('fx_crash')).toEqual({ error: 'unknown function fx_crash' }); // not allow-listed
    expect(calls(events)).toEqual(['echo:ok', 'add:ok', 'fail:tool_error', 'echo:tool_error']);
  });

  it('runs a stdio server, keeps its env secret out of the logs, and restarts it after it crashes mid-call', async () => {
    const { mcp, log, events, call } = await room([
      {
        name: 'local',
        transport: {
          type: 'stdio',
          command: process.execPath,
          args: [STDIO_SERVER],
          env: { FIXTURE_TOKEN: 'stdio-secret-789' },
        },
        prefix: '',
        timeoutMs: 60_000,
      },
    ]);
    expect(await call('echo', { text: 'over stdio' })).toEqual({ output: 'echo: over stdio' });
    await waitFor(() => log.lines.find((l) => l.msg === 'mcp: server stderr'), 'stderr line');
    expect(log.text()).toContain('fixture starting with token [redacted]');
    expect(log.text()).not.toContain('stdio-secret-789');

    expect(await call('crash')).toEqual({
      error: 'MCP server local disconnected during the call: connection closed',
    });
    expect(events.filter((e) => e.type === 'server_down')).toHaveLength(1);
    // Retried in the background: the process is started again and its tools work.
    await waitFor(() => events.filter((e) => e.type === 'server_up').length === 2, 'restart');
    expect(mcp.servers[0]!.state).toBe('up');
    expect(await call('echo', { text: 'again' })).toEqual({ output: 'echo: again' });
    expect(calls(events)).toEqual(['echo:ok', 'crash:disconnected', 'echo:ok']);
  });

  it('an HTTP server that dies mid-call fails the call at once, and its tools answer "unavailable" until it is back', async () => {
    const f = await httpFixture();
    const { events, call } = await room([
      { name: 'fx', transport: { type: 'http', url: f.url }, timeoutMs: 60_000 },
    ]);
    const response = await call('fx_crash');
    // Its SSE stream was cut mid-call: long before the 60 s time-out the cut is noticed, a ping fails,
    // and the server counts as down.
    expect(String(response?.error)).toMatch(
      /^MCP server fx (disconnected|closed the connection|is unreachable)/,
    );
    expect(events.some((e) => e.type === 'server_down')).toBe(true);
    expect(await call('fx_echo', { text: 'x' })).toEqual({
      error: 'MCP server fx is unavailable (reconnecting)',
    });
    expect(calls(events)).toEqual(['crash:disconnected', 'echo:unavailable']);
  });

  it('a slow tool times out with an error for the model, and the server is told to cancel', async () => {
    const f = await httpFixture();
    const { events, call } = await room([
      { name: 'fx', transport: { type: 'http', url: f.url }, timeoutMs: 300 },
    ]);
    const cancelled = once(f.events, 'cancelled');
    expect(await call('fx_slow')).toEqual({ error: 'MCP server fx did not answer within 300 ms' });
    expect(await cancelled).toEqual(['slow']);
    expect(calls(events)).toEqual(['slow:timeout']);
  });

  it("the model's toolCallCancellation aborts the call on the server and sends no response", async () => {
    const f = await httpFixture();
    const { mcp, events } = await room([
      { name: 'fx', transport: { type: 'http', url: f.url }, timeoutMs: 60_000 },
    ]);
    const sent: FunctionResponse[][] = [];
    const runner = new ToolRunner({
      registry: mcp.registry(new ToolRegistry()),
      respond: (rs) => sent.push(rs),
      context: () => ({ logger: recordingLogger().logger }),
    });
    const started = once(f.events, 'call');
    const cancelled = once(f.events, 'cancelled');
    const done = runner.handle([{ id: 's1', name: 'fx_slow', args: {} }]);
    await started;
    runner.cancel(['s1']);
    await done;
    expect(await cancelled).toEqual(['slow']);
    expect(sent).toEqual([]);
    expect(calls(events)).toEqual(['slow:cancelled']);
  });

  it('a server down at session start leaves the room working without it, and is picked up when it comes up', async () => {
    const f = await httpFixture({ down: true });
    // Accepts connections but never answers: slow at start.
    const mute = createServer(() => {});
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    closers.push(async () => {
      mute.closeAllConnections();
      await new Promise((r) => mute.close(r));
    });
    const muteUrl = `http://127.0.0.1:${(mute.address() as AddressInfo).port}/mcp`;
    const { mcp, log, events, call } = await room(
      [
        { name: 'late', transport: { type: 'http', url: f.url } },
        { name: 'mute', transport: { type: 'http', url: muteUrl }, connectTimeoutMs: 300 },
      ],
      new ToolRegistry([weatherTool]),
    );
    expect(mcp.servers).toEqual([
      { name: 'late', state: 'down', tools: 0 },
      { name: 'mute', state: 'down', tools: 0 },
    ]);
    expect(mcp.registry(new ToolRegistry([weatherTool])).names).toEqual(['get_weather']);
    expect(await call('get_weather', { city: 'Paris' })).toMatchObject({ output: { temperature: 17 } });
    const downs = log.lines.filter((l) => l.msg === 'mcp: server down, its tools are unavailable');
    expect(downs.map((l) => l.mcpServer)).toEqual(expect.arrayContaining(['late', 'mute']));
    expect(String(downs.find((l) => l.mcpServer === 'mute')?.reason)).toMatch(/300 ms/);

    const changed = once(mcp, 'toolsChanged');
    f.down = false;
    await changed;
    expect(mcp.servers[0]).toEqual({ name: 'late', state: 'up', tools: 6 });
    expect(await call('late_echo', { text: 'finally' })).toEqual({ output: 'echo: finally' });
    expect(events.find((e) => e.type === 'server_up')).toEqual({
      type: 'server_up',
      server: 'late',
      tools: 6,
    });
  });

  it('never logs header secrets or URL query strings, nor gives them to the model', async () => {
    const f = await httpFixture();
    const secretUrl = `${f.url}?key=query-secret-456`;
    const { log, call } = await room([
      {
        name: 'fx',
        transport: { type: 'http', url: secretUrl, headers: { Authorization: 'Bearer header-secret-123' } },
      },
    ]);
    // The server got the header (it answers with it); the model gets it redacted.
    expect(await call('fx_whoami')).toEqual({ output: 'authorised with [redacted]' });
    await call('fx_crash');
    expect(log.lines.some((l) => l.url === f.url)).toBe(true);
    expect(log.lines.some((l) => l.msg === 'mcp: server down, its tools are unavailable')).toBe(true);
    expect(log.text()).not.toMatch(/header-secret-123|query-secret-456/);
  });
});

describe('MCP tools and the Live API', () => {
  it('a scripted model calls an MCP tool through a Live session and speaks its result', async () => {
    const f = await httpFixture();
    const { mcp, log } = await room([
      { name: 'fx', transport: { type: 'http', url: f.url }, allowTools: ['add'] },
    ]);
    const gemini = await startGemini({
      apiKey: 'test-key',
      pacing: 50,
      scenario: {
        turns: [
          {
            steps: [
              { toolCall: { name: 'fx_add', args: { a: 2, b: 40 } } },
              { say: 'The sum is {{result}}' },
            ],
          },
        ],
      },
    });
    closers.push(() => gemini.close());
    const registry = mcp.registry(new ToolRegistry());
    const live = new LiveSession({
      apiKey: 'test-key',
      baseUrl: gemini.url,
      model: 'gemini-2.5-flash-native-audio-preview-12-2025',
      config: buildLiveConfig(
        resolveRoomConfig({ tools: [], model: 'gemini-2.5-flash-native-audio-preview-12-2025' }),
        registry.declarations(),
      ),
    });
    closers.push(() => live.aclose());
    // What Conversation does with a Live session's tool calls.
    const runner = new ToolRunner({
      registry,
      respond: (rs) => live.sendToolResponse(rs),
      context: () => ({ logger: log.logger }),
    });
    live.on('toolCall', (calls) => void runner.handle(calls));
    live.on('toolCallCancellation', (ids) => runner.cancel(ids));
    let said = '';
    live.on('outputTranscription', (t) => {
      said += t;
    });
    const turn = once(live, 'turnComplete');
    await live.start();
    live.sendText('what is 2 + 40?');
    await turn;
    expect(said).toContain('The sum is');
    expect(said).toContain('42');
    expect(gemini.stats()[0]).toMatchObject({ toolCalls: 1, toolResponses: 1 });
  });

  it('a server that adds a tool (tools/list_changed): the pool relists it, and the open Live session gets it by contextUpdate and keeps it on a new connection', async () => {
    const servers: McpServer[] = [];
    const f = await httpFixture({
      make: (hooks) => {
        const s = toolServer(hooks);
        servers.push(s);
        return s;
      },
    });
    const responding: string[] = [];
    f.events.on('responding', (m) => responding.push(m));
    const { mcp, log } = await room([
      { name: 'fx', transport: { type: 'http', url: f.url }, allowTools: ['add', 'multiply'] },
    ]);
    const gemini = await startGemini({ apiKey: 'test-key', pacing: 50 });
    closers.push(() => gemini.close());
    const cfg = resolveRoomConfig({ tools: [], model: 'gemini-2.5-flash-native-audio-preview-12-2025' });
    const tools = () => buildLiveConfig(cfg, mcp.registry(new ToolRegistry()).declarations()).tools ?? [];
    const live = new LiveSession({
      apiKey: 'test-key',
      baseUrl: gemini.url,
      model: cfg.model,
      config: { ...buildLiveConfig(cfg, mcp.registry(new ToolRegistry()).declarations()) },
      reconnectBackoffMs: 10,
    });
    closers.push(() => live.aclose());
    await live.start();
    const first = gemini.sessions()[0]!;
    expect(first.stats.contextUpdates).toBe(0);
    expect(JSON.stringify(first.stats.setup)).not.toContain('fx_multiply');
    // The client's stream for server notifications is open.
    await waitFor(() => responding.includes('GET'), 'the notification stream');

    const changed = once(mcp, 'toolsChanged');
    servers[0]!.registerTool(
      'multiply',
      { description: 'Multiplies two numbers.', inputSchema: { a: z.number(), b: z.number() } },
      async ({ a, b }) => ({ content: [{ type: 'text', text: String(a * b) }] }),
    );
    await changed;
    expect(mcp.tools().map((t) => t.name)).toEqual(['fx_add', 'fx_multiply']);
    expect(log.lines.some((l) => l.msg === 'mcp: server changed its tools')).toBe(true);
    expect(live.updateTools(tools())).toBe(true);
    await waitFor(() => first.stats.contextUpdates === 1, 'the contextUpdate');
    expect(JSON.stringify(first.stats.setup)).toContain('"name":"fx_multiply"');
    // The same list again: nothing sent (each update costs the model its prefix cache).
    expect(live.updateTools(tools())).toBe(false);

    // A dropped connection: the next one's setup declares the new tool itself.
    const next = gemini.nextSession((s) => s !== first);
    first.terminate();
    const second = await next;
    await waitFor(() => second.stats.setup !== undefined && live.state === 'open', 'the new connection');
    expect(JSON.stringify(second.stats.setup)).toContain('"name":"fx_multiply"');
    expect(second.stats.contextUpdates).toBe(0);
    expect(first.stats.contextUpdates).toBe(1);
  });

  it('redacts secrets inside the strings of a result, never its structure, and bounds what a server sends', () => {
    // A secret that reads like JSON (`true`, `1000`) must not break the result into a transport failure.
    const redact = redactor(
      mcpServerSchema.parse({
        name: 'fx',
        transport: { type: 'stdio', command: 'x', env: { DEBUG: 'true', LIMIT: '1000', KEY: 'sk-secret-1' } },
      }),
    );
    const out = mapCallResult(
      {
        content: [],
        structuredContent: JSON.parse(
          '{"ok":true,"n":1000,"note":"key sk-secret-1 and true","__proto__":{"polluted":1}}',
        ),
      },
      redact,
    ) as Record<string, unknown>;
    expect(out).toMatchObject({ ok: true, n: 1000, note: 'key [redacted] and [redacted]' });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    const big = mapCallResult(
      { content: [], structuredContent: { rows: 'x'.repeat(MAX_OUTPUT_CHARS * 2) } },
      redact,
    );
    expect(typeof big).toBe('string');
    expect((big as string).length).toBeLessThan(MAX_OUTPUT_CHARS + 100);
    expect(big).toMatch(/\[cut: \d+ more characters\]$/);
  });
});
