import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  type Tool as McpToolInfo,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { type Logger, silentLogger } from '../log.ts';
import type { McpServerConfig } from './config.ts';
import type { McpEvent } from './events.ts';
import { redactor, safeUrl } from './redact.ts';
import { mapCallResult } from './result.ts';

export type { McpToolInfo };

/** Back-off of reconnection attempts after a server is down. */
export interface McpRetryOptions {
  /** First wait, ms (default 1 000). */
  initialMs?: number;
  /** Longest wait, ms (default 30 000). */
  maxMs?: number;
}

/** Options of an {@link McpServerClient}. */
export interface McpServerClientOptions {
  logger?: Logger;
  /** Metrics hook: servers up and down, calls and their outcome. */
  onEvent?: (event: McpEvent) => void;
  retry?: McpRetryOptions;
  /** Called after each successful (re)listing of the tools. */
  onTools?: () => void;
}

/** How a call failed, for the model and the `outcome` label. */
export type McpCallFailure = 'timeout' | 'disconnected' | 'unavailable' | 'error';

/** A call that failed before the tool could answer; its message is safe to log and give to the model. */
export class McpCallError extends Error {
  override name = 'McpCallError';
  readonly kind: McpCallFailure;
  constructor(kind: McpCallFailure, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** One live connection: the SDK client, and a promise that rejects once the connection is found lost. */
interface Connection {
  client: Client;
  lost: Promise<never>;
  lose: (reason: string) => void;
}

const MAX_TOOL_PAGES = 20;
/** Time a liveness probe after a stream error may take before the server counts as gone, ms. */
const PROBE_MS = 2000;

/**
 * One MCP server: connects (Streamable HTTP or stdio), lists its tools within `connectTimeoutMs`, calls
 * them with the call's `AbortSignal` and `timeoutMs` (the SDK then sends `notifications/cancelled`), and
 * when it is down or lost (a crash mid-call, a dropped stream) fails calls at once and reconnects in the
 * background with back-off. Secrets are redacted from everything it logs or returns.
 */
export class McpServerClient {
  readonly config: McpServerConfig;
  readonly #o: McpServerClientOptions;
  readonly #log: Logger;
  readonly #redact: (s: string) => string;
  #conn: Connection | undefined;
  #tools: McpToolInfo[] | undefined;
  #state: 'idle' | 'connecting' | 'up' | 'down' | 'closed' = 'idle';
  #attempts = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #connecting: Promise<boolean> | undefined;
  /** Set by close(); a field, not a state check, because close() can run while an attempt awaits. */
  #closed = false;

  constructor(config: McpServerConfig, options: McpServerClientOptions = {}) {
    this.config = config;
    this.#o = options;
    this.#redact = redactor(config);
    const t = config.transport;
    this.#log = (options.logger ?? silentLogger).child({
      mcpServer: config.name,
      ...(t.type === 'http' ? { url: safeUrl(t.url) } : { command: t.command }),
    });
  }

  get name(): string {
    return this.config.name;
  }

  get state(): 'idle' | 'connecting' | 'up' | 'down' | 'closed' {
    return this.#state;
  }

  /** The tools of the last successful listing (kept while the server is down); undefined before one. */
  get tools(): readonly McpToolInfo[] | undefined {
    return this.#tools;
  }

  /** One connection attempt (joined if one runs); true when the server is up. A failure schedules retries. */
  connect(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#state === 'up') return Promise.resolve(true);
    this.#connecting ??= this.#attempt().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Calls a tool by the server's name. Rejects with {@link McpCallError}, an `McpToolError`, or the signal's reason. */
  async call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const conn = this.#conn;
    if (this.#state !== 'up' || !conn) {
      throw new McpCallError('unavailable', `MCP server ${this.name} is unavailable (reconnecting)`);
    }
    const timeoutMs = this.config.timeoutMs;
    try {
      const result = await Promise.race([
        conn.client.callTool({ name: tool, arguments: args }, undefined, { signal, timeout: timeoutMs }),
        conn.lost,
      ]);
      return mapCallResult(result as Parameters<typeof mapCallResult>[0], this.#redact);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof McpCallError) throw err;
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
        throw new McpCallError('timeout', `MCP server ${this.name} did not answer within ${timeoutMs} ms`);
      }
      if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) {
        conn.lose('connection closed');
        throw new McpCallError(
          'disconnected',
          `MCP server ${this.name} disconnected during the call: connection closed`,
        );
      }
      if (err instanceof McpError) throw new McpCallError('error', this.#redact(err.message));
      if (err instanceof Error && err.name === 'McpToolError') throw err;
      // Anything else is the transport failing (fetch refused, session gone): the server is lost.
      const reason = this.#redact(err instanceof Error ? err.message : String(err));
      conn.lose(reason);
      throw new McpCallError('disconnected', `MCP server ${this.name} is unreachable: ${reason}`);
    }
  }

  /** Stops retrying and closes the connection (a stdio server's process ends). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    const conn = this.#conn;
    this.#conn = undefined;
    await conn?.client.close().catch(() => {});
  }

  #transport(): Transport {
    const t = this.config.transport;
    if (t.type === 'http') {
      return new StreamableHTTPClientTransport(new URL(t.url), {
        ...(t.headers && { requestInit: { headers: t.headers } }),
        // Our own back-off reconnects; the SDK's stream resumption only helps servers with an event store.
        reconnectionOptions: {
          initialReconnectionDelay: 500,
          maxReconnectionDelay: 2000,
          reconnectionDelayGrowFactor: 2,
          maxRetries: 1,
        },
      });
    }
    const transport = new StdioClientTransport({
      command: t.command,
      ...(t.args && { args: t.args }),
      ...(t.env && { env: t.env }),
      ...(t.cwd && { cwd: t.cwd }),
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) this.#log.debug({ stderr: this.#redact(line.slice(0, 500)) }, 'mcp: server stderr');
      }
    });
    return transport;
  }

  async #attempt(): Promise<boolean> {
    this.#state = 'connecting';
    const deadline = new AbortController();
    const ms = this.config.connectTimeoutMs;
    const timer = setTimeout(() => deadline.abort(new Error(`no answer within ${ms} ms`)), ms);
    const client = new Client({ name: 'gemini-livekit-agent', version: '0.1.0' }, { capabilities: {} });
    let lose!: (reason: string) => void;
    const lost = new Promise<never>((_, reject) => {
      lose = (reason) =>
        reject(
          new McpCallError('disconnected', `MCP server ${this.name} disconnected during the call: ${reason}`),
        );
    });
    lost.catch(() => {}); // only ever raced against a call
    const conn: Connection = { client, lost, lose: (reason) => this.#lost(conn, reason, lose) };
    try {
      const aborted = new Promise<never>((_, reject) => {
        deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason), { once: true });
      });
      const opts = { signal: deadline.signal, timeout: ms };
      await Promise.race([client.connect(this.#transport(), opts), aborted]);
      const tools = await Promise.race([listTools(client, opts), aborted]);
      if (this.#closed) {
        await client.close().catch(() => {});
        return false;
      }
      client.onclose = () => conn.lose('connection closed');
      client.onerror = (err) => this.#probe(conn, err);
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.#relist(conn));
      this.#conn = conn;
      this.#tools = tools;
      this.#state = 'up';
      this.#attempts = 0;
      this.#log.info({ tools: tools.length }, 'mcp: server up');
      this.#o.onEvent?.({ type: 'server_up', server: this.name, tools: tools.length });
      this.#o.onTools?.();
      return true;
    } catch (err) {
      await client.close().catch(() => {});
      if (this.#closed) return false;
      this.#down(this.#redact(err instanceof Error ? err.message : String(err)));
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The server said its tools changed (`notifications/tools/list_changed`): list them again and tell
   * the pool. A listing that fails leaves the previous list (a lost server is handled as any).
   */
  async #relist(conn: Connection): Promise<void> {
    const ms = this.config.connectTimeoutMs;
    try {
      const tools = await listTools(conn.client, { timeout: ms });
      if (this.#conn !== conn) return;
      this.#tools = tools;
      this.#log.info({ tools: tools.length }, 'mcp: server changed its tools');
      this.#o.onTools?.();
    } catch (err) {
      this.#log.warn(
        { err: this.#redact(err instanceof Error ? err.message : String(err)) },
        'mcp: listing the changed tools failed, keeping the previous list',
      );
    }
  }

  /**
   * A transport error (an SSE stream cut, a failed request) may or may not mean the server is gone; a
   * ping tells. Without this a call whose stream was cut by a crash would wait for its time-out.
   */
  #probe(conn: Connection, err: Error): void {
    if (this.#conn !== conn) return;
    this.#log.debug({ err: this.#redact(err.message) }, 'mcp: transport error, probing');
    conn.client.ping({ timeout: Math.min(PROBE_MS, this.config.timeoutMs) }).then(
      () => {},
      (e: unknown) =>
        conn.lose(this.#redact(`${err.message}; ping: ${e instanceof Error ? e.message : String(e)}`)),
    );
  }

  #lost(conn: Connection, reason: string, reject: (reason: string) => void): void {
    reject(reason);
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    conn.client.close().catch(() => {});
    if (!this.#closed) this.#down(reason);
  }

  #down(reason: string): void {
    this.#state = 'down';
    const delay = Math.min(
      (this.#o.retry?.initialMs ?? 1000) * 2 ** this.#attempts,
      this.#o.retry?.maxMs ?? 30_000,
    );
    this.#attempts++;
    this.#log.warn({ reason, retryInMs: delay }, 'mcp: server down, its tools are unavailable');
    this.#o.onEvent?.({ type: 'server_down', server: this.name, reason });
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.connect(), delay);
    this.#retryTimer.unref();
  }
}

/** Every page of the server's tools (at most {@link MAX_TOOL_PAGES}). */
async function listTools(
  client: Client,
  opts: { signal?: AbortSignal; timeout: number },
): Promise<McpToolInfo[]> {
  const tools: McpToolInfo[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_TOOL_PAGES; page++) {
    const r = await client.listTools(cursor ? { cursor } : undefined, opts);
    tools.push(...r.tools);
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  return tools;
}
