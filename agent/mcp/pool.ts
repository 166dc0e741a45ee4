import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { type Logger, silentLogger } from '../log.ts';
import { ToolRegistry } from '../tools/registry.ts';
import type { Tool } from '../tools/tool.ts';
import { McpCallError, type McpRetryOptions, McpServerClient, type McpToolInfo } from './client.ts';
import type { McpServerConfig } from './config.ts';
import type { McpCallOutcome, McpEvent } from './events.ts';
import { toGeminiParameters } from './schema.ts';

/** Options of {@link McpTools.start}. */
export interface McpToolsOptions {
  /** The room's servers: the worker's, narrowed for the room (`narrowForRoom`). */
  servers: readonly McpServerConfig[];
  logger?: Logger;
  /** Metrics hook (see `events.ts` for the metric names it feeds). */
  onEvent?: (event: McpEvent) => void;
  /** Back-off of reconnection attempts (default 1 s doubling to 30 s). */
  retry?: McpRetryOptions;
}

/** Events of {@link McpTools}. */
export type McpToolsEvents = {
  /** A server came up (late, or again) and listed its tools: sessions started from now on get them. */
  toolsChanged: [];
};

/** Same rule as `ToolRegistry.register`: what the Live API takes as a function name. */
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Any object: the MCP server validates the arguments against its own schema and says what is wrong. */
const anyArguments = z.looseObject({});

/** Grace over the server's `timeoutMs` for the tool runner's own limit: the SDK's time-out, which also cancels on the server, fires first. */
const RUNNER_GRACE_MS = 1000;

/**
 * The MCP servers of one room (one job): connected at session start, their tools offered as
 * {@link Tool}s for a {@link ToolRegistry}. A server down or slow at start leaves the room without its
 * tools (logged, `server_down` event) and is retried in the background; once it lists its tools,
 * `toolsChanged` fires and {@link tools} includes them. Tools whose schema cannot be converted, whose
 * name is not a valid function name, or that clash with another are refused with a log line.
 */
export class McpTools extends EventEmitter<McpToolsEvents> {
  readonly #clients: McpServerClient[];
  readonly #log: Logger;
  readonly #onEvent: (e: McpEvent) => void;
  /** Tool → server mapping cache per listing, so refusals are logged once per listing. */
  readonly #built = new Map<McpServerClient, { from: readonly McpToolInfo[]; tools: Tool[] }>();
  /** Name clashes already reported (`server/tool`), so each is logged once. */
  readonly #clashes = new Set<string>();

  private constructor(options: McpToolsOptions) {
    super();
    this.#log = options.logger ?? silentLogger;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#clients = options.servers.map(
      (s) =>
        new McpServerClient(s, {
          logger: this.#log,
          onEvent: this.#onEvent,
          ...(options.retry && { retry: options.retry }),
          onTools: () => this.emit('toolsChanged'),
        }),
    );
  }

  /**
   * Connects every server at once and resolves when each is up or has failed its first attempt (each
   * bounded by its `connectTimeoutMs`); never rejects for a server that is down.
   */
  static async start(options: McpToolsOptions): Promise<McpTools> {
    const pool = new McpTools(options);
    await Promise.all(pool.#clients.map((c) => c.connect()));
    return pool;
  }

  /** Each server's state and how many tools it offers. */
  get servers(): { name: string; state: McpServerClient['state']; tools: number }[] {
    return this.#clients.map((c) => ({ name: c.name, state: c.state, tools: this.#toolsOf(c).length }));
  }

  /** The tools of every server listed so far (kept while a server reconnects: calls then fail fast). */
  tools(): Tool[] {
    const seen = new Set<string>();
    const out: Tool[] = [];
    for (const c of this.#clients) {
      for (const t of this.#toolsOf(c)) {
        if (seen.has(t.name)) {
          const key = `${c.name}/${t.name}`;
          if (!this.#clashes.has(key))
            this.#refuse(c.name, t.name, `the name ${t.name} is taken by another MCP server's tool`);
          this.#clashes.add(key);
          continue;
        }
        seen.add(t.name);
        out.push(t);
      }
    }
    return out;
  }

  /**
   * A registry for one Live session: `base` (the room's own tools, already selected) plus every MCP
   * tool; an MCP tool named like a base tool is left out with a log line.
   */
  registry(base: ToolRegistry): ToolRegistry {
    const taken = new Set(base.names);
    const tools = base.names.map((n) => base.get(n)!);
    for (const t of this.tools()) {
      if (taken.has(t.name)) {
        this.#log.warn({ tool: t.name }, 'mcp: tool left out, the name belongs to a built-in tool');
        continue;
      }
      tools.push(t);
    }
    return new ToolRegistry(tools);
  }

  /** Stops retrying and closes every connection (stdio servers' processes end). */
  async close(): Promise<void> {
    await Promise.all(this.#clients.map((c) => c.close()));
  }

  #refuse(server: string, tool: string, reason: string): void {
    this.#log.warn({ mcpServer: server, tool, reason }, 'mcp: tool refused, not offered to the model');
    this.#onEvent({ type: 'tool_refused', server, tool, reason });
  }

  #toolsOf(client: McpServerClient): Tool[] {
    const listed = client.tools;
    if (!listed) return [];
    const cached = this.#built.get(client);
    if (cached?.from === listed) return cached.tools;
    const cfg = client.config;
    const allow = cfg.allowTools;
    const prefix = cfg.prefix ?? `${cfg.name}_`;
    const tools: Tool[] = [];
    for (const info of listed) {
      if (allow && !allow.includes(info.name)) continue;
      const name = `${prefix}${info.name}`;
      if (!FUNCTION_NAME.test(name)) {
        this.#refuse(cfg.name, info.name, `${JSON.stringify(name)} is not a valid function name`);
        continue;
      }
      const converted = toGeminiParameters(info.inputSchema);
      if (!converted.ok) {
        this.#refuse(cfg.name, info.name, `input schema: ${converted.reason}`);
        continue;
      }
      if (converted.dropped.length) {
        this.#log.debug(
          { mcpServer: cfg.name, tool: info.name, dropped: converted.dropped },
          'mcp: schema keywords left out',
        );
      }
      tools.push(this.#tool(client, info, name, converted.schema));
    }
    for (const wanted of allow ?? []) {
      if (!listed.some((t) => t.name === wanted)) {
        this.#log.warn({ mcpServer: cfg.name, tool: wanted }, 'mcp: allowed tool not offered by the server');
      }
    }
    this.#built.set(client, { from: listed, tools });
    return tools;
  }

  #tool(client: McpServerClient, info: McpToolInfo, name: string, schema: Record<string, unknown>): Tool {
    const cfg = client.config;
    const onEvent = this.#onEvent;
    return {
      name,
      description: info.description ?? info.title ?? info.annotations?.title ?? info.name,
      parameters: anyArguments,
      parametersJsonSchema: schema,
      timeoutMs: cfg.timeoutMs + RUNNER_GRACE_MS,
      ...(cfg.behavior && { behavior: cfg.behavior }),
      ...(cfg.scheduling && { scheduling: cfg.scheduling }),
      async execute(args, ctx) {
        const started = performance.now();
        let outcome: McpCallOutcome = 'ok';
        try {
          return await client.call(info.name, args, ctx.signal);
        } catch (err) {
          outcome = ctx.signal.aborted
            ? 'cancelled'
            : err instanceof McpCallError
              ? err.kind
              : err instanceof Error && err.name === 'McpToolError'
                ? 'tool_error'
                : 'error';
          throw err;
        } finally {
          const ms = performance.now() - started;
          onEvent({ type: 'call', server: cfg.name, tool: info.name, outcome, ms });
        }
      },
    };
  }
}
