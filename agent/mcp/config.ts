import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, formatIssue, issueLine, jsonErrorAt } from '../config/error.ts';

/**
 * MCP servers are configured for the worker only (`AGENT_MCP_SERVERS`); a room may pick some of them by
 * name and allow-list their tools (`mcp` in room or dispatch metadata), never add one: a URL or command
 * from metadata would let whoever writes metadata point the agent (and its header secrets) anywhere.
 */

/** Environment variable holding the worker's MCP servers: a JSON array, or the path of a JSON file. */
export const MCP_SERVERS_ENV = 'AGENT_MCP_SERVERS';

const SERVER_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

const httpTransport = z.strictObject({
  type: z.literal('http'),
  /** Streamable HTTP endpoint, `http(s)://…`. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** Sent with every request (e.g. `Authorization`); values may name env variables as `${NAME}`. Never logged. */
  headers: z.record(z.string().min(1), z.string()).optional(),
});

const stdioTransport = z.strictObject({
  type: z.literal('stdio'),
  /** Program to start (a local server); its stdin/stdout carry the protocol. */
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  /** Added to the SDK's minimal inherited environment; values may name env variables as `${NAME}`. Never logged. */
  env: z.record(z.string().min(1), z.string()).optional(),
  cwd: z.string().min(1).optional(),
});

/** One MCP server of the worker. */
export const mcpServerSchema = z.strictObject({
  /** How rooms and logs name it; letters, digits, `_`, `-`, at most 32. */
  name: z.string().regex(SERVER_NAME, 'a letter, then letters, digits, _ or - (at most 32)'),
  transport: z.discriminatedUnion('type', [httpTransport, stdioTransport]),
  /** Limit of one tool call, ms; the call is cancelled on the server after it. */
  timeoutMs: z.number().int().min(100).max(600_000).default(20_000),
  /** Limit of connecting and listing the tools at session start, ms. */
  connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Only these tools (the server's names) are offered; all when unset. */
  allowTools: z.array(z.string().min(1)).optional(),
  /** Put before each tool name the model sees; `<name>_` when unset, `""` for none. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]*$/, 'letters, digits, _, . or -')
    .optional(),
  /** `NON_BLOCKING`: the model keeps talking while the server works (see `Tool.behavior`; unset = the model's default). */
  behavior: z.enum(['BLOCKING', 'NON_BLOCKING']).optional(),
  /** Delivery of a non-blocking result. */
  scheduling: z.enum(['INTERRUPT', 'WHEN_IDLE', 'SILENT']).optional(),
});

export type McpServerConfig = z.infer<typeof mcpServerSchema>;
export type McpServerConfigInput = z.input<typeof mcpServerSchema>;
export type McpTransportConfig = McpServerConfig['transport'];

const serversSchema = z.array(mcpServerSchema).superRefine((servers, ctx) => {
  const seen = new Set<string>();
  servers.forEach((s, i) => {
    if (seen.has(s.name))
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${s.name} appears twice` });
    seen.add(s.name);
  });
});

/** `${NAME}` in header and env values: secrets stay in the environment, not in the JSON. */
function expand(value: string, env: NodeJS.ProcessEnv, where: string, problems: string[]): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined) {
      problems.push(issueLine(where, `names \${${name}}, which is not set`));
      return '';
    }
    return v;
  });
}

/** Options of {@link parseMcpServers}. */
export interface ParseMcpServersOptions {
  /** Variables `${NAME}` refers to (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Reads a configuration file (default `readFileSync(path, 'utf8')`). */
  readFile?: (path: string) => string;
}

/**
 * The worker's MCP servers from the value of {@link MCP_SERVERS_ENV}: a JSON array, or the path of a
 * file holding one. Empty or unset: none. Throws {@link ConfigError} listing every problem; values are
 * never echoed (a header may hold a token).
 */
export function parseMcpServers(
  value: string | undefined,
  options: ParseMcpServersOptions = {},
): McpServerConfig[] {
  const env = options.env ?? process.env;
  const text = value?.trim();
  if (!text) return [];
  let source = MCP_SERVERS_ENV;
  let json = text;
  if (!text.startsWith('[')) {
    source = `${MCP_SERVERS_ENV} file ${text}`;
    try {
      json = (options.readFile ?? ((p) => readFileSync(p, 'utf8')))(text);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError(
        `invalid ${MCP_SERVERS_ENV}: not a JSON array, nor a readable file (${code ?? 'error'})`,
      );
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(`invalid ${source}: not valid JSON${jsonErrorAt(err)}`);
  }
  const parsed = serversSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`invalid ${source}:\n${parsed.error.issues.map(formatIssue).join('\n')}`);
  }
  const problems: string[] = [];
  const servers = parsed.data.map((s, i) => {
    const t = s.transport;
    const values = t.type === 'http' ? t.headers : t.env;
    if (!values) return s;
    const key = t.type === 'http' ? 'headers' : 'env';
    const expanded = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [k, expand(v, env, `${i}.transport.${key}.${k}`, problems)]),
    );
    return { ...s, transport: { ...t, [key]: expanded } } as McpServerConfig;
  });
  if (problems.length) throw new ConfigError(`invalid ${source}:\n${problems.join('\n')}`);
  return servers;
}

/** What looks like a place to connect to rather than a server's name. */
const LOCATION = /:\/\/|^[./\\~]|^[A-Za-z]:[\\/]/;
const NOT_A_NAME =
  `only names a server the worker configured (${MCP_SERVERS_ENV}); ` +
  'a URL, command or transport in room metadata is refused';

/**
 * The `mcp` key of room or dispatch metadata: which of the worker's servers the room uses (all when
 * `servers` is unset, none when `[]`) and, per server, which of its tools (by the server's names).
 * Anything that could add a server (a URL, a command, a transport) is refused with a clear message.
 */
export const mcpRoomSelectionSchema = z
  .object({
    servers: z.array(z.string().min(1)).optional(),
    tools: z.record(z.string(), z.array(z.string().min(1))).optional(),
  })
  .catchall(z.unknown())
  .superRefine((sel, ctx) => {
    for (const key of Object.keys(sel)) {
      if (key === 'servers' || key === 'tools') continue;
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: /^(url|command|args|transport|headers|env|cwd)$/.test(key) ? NOT_A_NAME : 'unknown key',
      });
    }
    sel.servers?.forEach((name, i) => {
      if (LOCATION.test(name)) ctx.addIssue({ code: 'custom', path: ['servers', i], message: NOT_A_NAME });
    });
  })
  .transform(({ servers, tools }) => ({ servers, tools }));

export type McpRoomSelection = z.output<typeof mcpRoomSelectionSchema>;
export type McpRoomSelectionInput = z.input<typeof mcpRoomSelectionSchema>;

/**
 * The servers a room uses: the worker's, narrowed by the room's selection (the `mcp` metadata value,
 * parsed here if it was not already). A room can only drop servers and tools: a name the worker does
 * not have, a tool the worker's `allowTools` excludes, or anything resembling a URL throws
 * {@link ConfigError} (which fails the room like any bad room setting). No selection: every server.
 */
export function narrowForRoom(worker: readonly McpServerConfig[], selection: unknown): McpServerConfig[] {
  if (selection === undefined || selection === null) return [...worker];
  const parsed = mcpRoomSelectionSchema.safeParse(selection);
  const fail = (lines: string[]) => {
    throw new ConfigError(`invalid room configuration (mcp):\n${lines.join('\n')}`);
  };
  if (!parsed.success) fail(parsed.error.issues.map((i) => formatIssue({ ...i, path: ['mcp', ...i.path] })));
  const sel = parsed.data as McpRoomSelection;
  const byName = new Map(worker.map((s) => [s.name, s]));
  const configured = worker.map((s) => s.name).join(', ') || 'none';
  const problems: string[] = [];
  const names = sel.servers ?? worker.map((s) => s.name);
  for (const n of names) {
    if (!byName.has(n))
      problems.push(issueLine('mcp.servers', `unknown MCP server ${n}; configured: ${configured}`));
  }
  for (const [server, tools] of Object.entries(sel.tools ?? {})) {
    const s = byName.get(server);
    if (!s) {
      problems.push(
        issueLine(`mcp.tools.${server}`, `unknown MCP server ${server}; configured: ${configured}`),
      );
    } else if (!names.includes(server)) {
      problems.push(issueLine(`mcp.tools.${server}`, 'the server is not in mcp.servers'));
    } else if (s.allowTools) {
      const excluded = tools.filter((t) => !s.allowTools!.includes(t));
      if (excluded.length)
        problems.push(issueLine(`mcp.tools.${server}`, `not allowed by the worker: ${excluded.join(', ')}`));
    }
  }
  if (problems.length) fail(problems);
  return names.map((n) => {
    const s = byName.get(n)!;
    const tools = sel.tools?.[n];
    return tools ? { ...s, allowTools: tools } : s;
  });
}
