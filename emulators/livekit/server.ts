import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ApiKeys } from './api-keys.ts';
import { AuthError, tokenFromRequest, verifyJoinToken } from './auth.ts';
import { type ControlPlane, type ControlPlaneOptions, createControlPlane } from './control/index.ts';
import type { RoomOptions } from './room.ts';
import type { RoomDirectory } from './room-directory.ts';
import { RoomRegistry } from './room-registry.ts';
import { parseJoinQuery, type SignalOptions, SignalSession } from './signal-session.ts';

export interface DevServerOptions {
  port: number;
  host: string;
  keys: ApiKeys;
  room: Partial<RoomOptions>;
  signal: Omit<SignalOptions, 'log' | 'keys'>;
  /** Largest signal frame accepted (bytes). */
  maxSignalFrame: number;
  log: (msg: string, extra?: Record<string, unknown>) => void;
  /** Agent jobs starting and ending on workers (the agent_job_* webhooks). */
  onAgentJob?: ControlPlaneOptions['onJob'];
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
};

/** Writes a plain HTTP response onto a socket that asked to upgrade, then closes it. */
function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[
    status
  ];
  const body = Buffer.from(reason);
  socket.end(
    `HTTP/1.1 ${status} ${text ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n` +
      `Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * The dev server's HTTP front: `/rtc` signalling (v0; `/rtc/v1` answers 404 so clients fall back),
 * `/rtc/validate`, and everything the control plane takes (`/twirp/*`, `/agent`).
 */
export class DevServer {
  readonly registry: RoomRegistry;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly options: DevServerOptions;
  private control: ControlPlane | undefined;

  constructor(options: DevServerOptions) {
    this.options = options;
    this.registry = new RoomRegistry(options.room, options.log);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxSignalFrame });
    this.http = createServer((req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  get directory(): RoomDirectory {
    return this.registry;
  }

  async listen(): Promise<{ port: number; host: string }> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.host, () => resolve());
    });
    const { port } = this.http.address() as AddressInfo;
    this.control = createControlPlane({
      directory: this.registry,
      keys: this.options.keys,
      serverUrl: `ws://${this.options.host}:${port}`,
      ...(this.options.onAgentJob && { onJob: this.options.onAgentJob }),
    });
    return { port, host: this.options.host };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      if (this.control?.handleRequest(req, res)) return;
    } catch (err) {
      this.options.log('control plane request failed', { err: String(err) });
      if (!res.headersSent) res.writeHead(500).end('internal error');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS).end();
      return;
    }
    if (url.pathname === '/' || url.pathname === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain', ...CORS }).end('OK');
      return;
    }
    if (url.pathname === '/rtc/validate') {
      verifyJoinToken(tokenFromRequest(req, url), this.options.keys, url.searchParams.get('room')).then(
        () => res.writeHead(200, { 'Content-Type': 'text/plain', ...CORS }).end('success'),
        (err) => {
          const status = err instanceof AuthError ? err.status : 500;
          res
            .writeHead(status, { 'Content-Type': 'text/plain', ...CORS })
            .end(String((err as Error).message));
        },
      );
      return;
    }
    // Includes /rtc/v1/validate: the single-peer-connection protocol is not offered, clients use v0.
    res.writeHead(404, { 'Content-Type': 'text/plain', ...CORS }).end('not found');
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    try {
      if (this.control?.handleUpgrade(req, socket, head)) return;
    } catch (err) {
      this.options.log('control plane upgrade failed', { err: String(err) });
      socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/rtc' && url.pathname !== '/rtc/') {
      rejectUpgrade(socket, 404, 'not found');
      return;
    }
    const query = parseJoinQuery(url);
    verifyJoinToken(tokenFromRequest(req, url), this.options.keys, url.searchParams.get('room')).then(
      (grants) => {
        if (socket.destroyed) return;
        const room = this.registry.room(grants.room);
        if (!query.reconnect && room?.isFull && !room.participants.has(grants.identity)) {
          rejectUpgrade(socket, 503, 'room is full');
          return;
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          const session = new SignalSession(ws, this.registry, {
            ...this.options.signal,
            keys: this.options.keys,
            log: this.options.log,
          });
          try {
            if (query.reconnect && query.sid) session.resume(grants, query);
            else session.join(grants, query);
          } catch (err) {
            this.options.log('join failed', { err: String(err) });
            ws.close(1011, 'join failed');
          }
        });
      },
      (err) => {
        const status = err instanceof AuthError ? err.status : 500;
        rejectUpgrade(socket, status, String((err as Error).message));
      },
    );
  }

  async close(): Promise<void> {
    await this.control?.close().catch(() => {});
    this.registry.closeAll();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}
