import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ApiKeys } from '../api-keys.ts';
import { AuthFailure, verifyBearer } from './auth.ts';
import type { AgentDispatcher } from './dispatcher.ts';
import { WorkerConnection, type WorkerConnectionOptions } from './worker-connection.ts';

export interface AgentEndpointOptions {
  dispatcher: AgentDispatcher;
  keys: ApiKeys;
  /** Passed to every worker connection (timeouts, node id). */
  worker?: Omit<WorkerConnectionOptions, 'apiKey'>;
  /** Largest accepted worker message (default 1 MiB). */
  maxPayload?: number;
}

/**
 * `GET /agent` upgrade for agent workers: the Bearer token (or `?access_token=`) must verify
 * against the configured keys and carry the `agent` grant, as on LiveKit.
 */
export class AgentEndpoint {
  readonly #opts: AgentEndpointOptions;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<Duplex>();

  constructor(opts: AgentEndpointOptions) {
    this.#opts = opts;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload ?? 1 << 20 });
  }

  /** True when the upgrade is for `/agent`; the socket is then owned by the endpoint. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== '/agent') return false;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // A peer that resets during the token check must not surface as an unhandled error.
    socket.on('error', () => socket.destroy());
    const header = req.headers.authorization ?? tokenParam(url);
    verifyBearer(header, this.#opts.keys).then(
      (claims) => {
        if (socket.destroyed) return;
        if (!claims.video?.agent) return reject(socket, 403, 'permissions denied: agent grant required');
        const apiKey = claims.iss ?? '';
        this.#wss.handleUpgrade(req, socket, head, (ws) => {
          const w = new WorkerConnection(ws, { ...this.#opts.worker, apiKey });
          this.#opts.dispatcher.attachWorker(w);
        });
      },
      (err: unknown) => {
        if (err instanceof AuthFailure) reject(socket, 401, err.message);
        else reject(socket, 500, 'internal error');
      },
    );
    return true;
  }

  /** Drops sockets still being authenticated; open workers are closed by the dispatcher. */
  close(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#wss.close();
  }
}

function tokenParam(url: URL): string | undefined {
  const t = url.searchParams.get('access_token');
  return t ? `Bearer ${t}` : undefined;
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  500: 'Internal Server Error',
};

function reject(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
