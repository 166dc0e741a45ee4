/**
 * A transparent WebSocket tap in front of the Gemini emulator: every Live socket of an agent passes
 * through it unchanged (text stays text, binary stays binary, close codes are relayed), and the tap
 * timestamps what matters for latency on the wire itself:
 *
 * - client → server `realtimeInput.audio`: arrival time, duration and where the voice starts/ends in
 *   the chunk (energy per 10 ms), so "last user audio frame sent on the Live socket" is exact to 10 ms;
 * - server → client: first `modelTurn` audio of each turn and `interrupted`.
 *
 * Connections are grouped by the `sessionId` the bench assigns per room, because an agent may open
 * several sockets over a session (goAway, reconnects).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { now } from './stats.ts';
import { voicedRange } from './voice.ts';

/** One audio message the agent sent. */
export interface AudioIn {
  at: number;
  /** Samples in the chunk and their rate. */
  samples: number;
  rate: number;
  /** Offsets (ms into the chunk) of the first and last voiced 10 ms block, if any. */
  voicedFromMs?: number;
  voicedToMs?: number;
  /** Voiced 10 ms blocks × 10. */
  voicedMs: number;
}

export interface TapConnection {
  id: number;
  openedAt: number;
  setupAt?: number;
  /** Server's `setupComplete` forwarded. */
  readyAt?: number;
  closedAt?: number;
  closeCode?: number;
  /** The close reason relayed (e.g. a 1007 refusal of a setting the model does not take). */
  closeReason?: string;
  /** `setup.model` as the agent sent it (read even when not inspecting). */
  model?: string;
  audioIn: AudioIn[];
  /** First model audio of each turn (after a turnComplete/interrupted or at start). */
  firstAudioOut: number[];
  interrupted: number[];
  goAways: number[];
  setupHasHandle: boolean;
  /** Seconds of user audio sent by the agent on this socket. */
  audioInSeconds: number;
}

export interface TapOptions {
  /** Decode and timestamp frames (off: a plain relay, for capacity runs). Default true. */
  inspect?: boolean;
}

export class LiveTap {
  url = '';
  readonly connections: TapConnection[] = [];
  #http: Server;
  #wss: WebSocketServer;
  /** Where new connections go (an emulator's ws:// URL); may change between phases. */
  target: string;
  #inspect: boolean;
  #sockets = new Set<WebSocket>();
  #nextId = 0;

  constructor(targetHttpUrl: string, o: TapOptions = {}) {
    this.target = targetHttpUrl.replace(/^http/, 'ws');
    this.#inspect = o.inspect ?? true;
    this.#http = createServer((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
    this.#http.on('upgrade', (req, socket, head) => {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#relay(ws, req));
    });
  }

  /** Sends new connections to another emulator (`http://…`). */
  retarget(httpUrl: string): void {
    this.target = httpUrl.replace(/^http/, 'ws');
  }

  set inspect(v: boolean) {
    this.#inspect = v;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#http.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  #relay(client: WebSocket, req: IncomingMessage): void {
    const conn: TapConnection = {
      id: this.#nextId++,
      openedAt: now(),
      audioIn: [],
      firstAudioOut: [],
      interrupted: [],
      goAways: [],
      setupHasHandle: false,
      audioInSeconds: 0,
    };
    this.connections.push(conn);
    const upstream = new WebSocket(`${this.target}${req.url ?? ''}`, { maxPayload: 64 * 1024 * 1024 });
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const pending: { data: Buffer; binary: boolean }[] = [];
    let inTurn = false;
    upstream.on('open', () => {
      for (const p of pending) upstream.send(p.data, { binary: p.binary });
      pending.length = 0;
    });
    client.on('message', (data: Buffer, binary) => {
      const open = upstream.readyState === WebSocket.OPEN;
      const connecting = upstream.readyState === WebSocket.CONNECTING;
      // Audio counts as delivered only if it goes on to the model.
      if (this.#inspect && (open || connecting)) this.#inspectClient(conn, data);
      else if (conn.setupAt === undefined) this.#readSetup(conn, data);
      if (open) upstream.send(data, { binary });
      else if (connecting) pending.push({ data, binary });
    });
    upstream.on('message', (data: Buffer, binary) => {
      {
        // Substring checks only (no JSON parse): cheap enough to keep on in capacity runs.
        const t = now();
        const s = data.toString('utf8');
        // Cheap substring checks: only the first audio chunk of a turn needs a timestamp.
        if (s.includes('"setupComplete"')) conn.readyAt = t;
        if (s.includes('"inlineData"') && !inTurn) {
          inTurn = true;
          conn.firstAudioOut.push(t);
        }
        if (s.includes('"interrupted"')) {
          conn.interrupted.push(t);
          inTurn = false;
        }
        if (s.includes('"turnComplete"')) inTurn = false;
        if (s.includes('"goAway"')) conn.goAways.push(t);
      }
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary });
    });
    const closeBoth = (code: number, reason: Buffer) => {
      conn.closedAt ??= now();
      conn.closeCode ??= code;
      if (conn.closeReason === undefined && reason.length) conn.closeReason = reason.toString('utf8');
      const relay = (ws: WebSocket) => {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
          if (code === 1005 || code === 1006 || !(code >= 1000 && code < 5000)) ws.terminate();
          else ws.close(code, reason);
        }
      };
      relay(client);
      relay(upstream);
    };
    upstream.on('close', (code, reason) => closeBoth(code, reason));
    client.on('close', (code, reason) => closeBoth(code, reason));
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
    client.on('close', () => this.#sockets.delete(client));
    upstream.on('close', () => this.#sockets.delete(upstream));
  }

  /** The setup message alone (the first one a client sends). */
  #readSetup(conn: TapConnection, data: Buffer): void {
    try {
      const msg = JSON.parse(data.toString('utf8')) as { setup?: { model?: string } };
      if (!msg.setup) return;
      conn.setupAt = now();
      conn.model = msg.setup.model?.replace(/^models\//, '');
    } catch {
      // not JSON: not a setup
    }
  }

  #inspectClient(conn: TapConnection, data: Buffer): void {
    const t = now();
    let msg: {
      setup?: { model?: string; sessionResumption?: { handle?: string } };
      realtimeInput?: {
        audio?: { data: string; mimeType: string };
        mediaChunks?: { data: string; mimeType: string }[];
      };
    };
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    if (msg.setup) {
      conn.setupAt = t;
      conn.model = msg.setup.model?.replace(/^models\//, '');
      conn.setupHasHandle = Boolean(msg.setup.sessionResumption?.handle);
    }
    const ri = msg.realtimeInput;
    if (!ri) return;
    const blobs = [...(ri.mediaChunks ?? []), ...(ri.audio ? [ri.audio] : [])];
    for (const b of blobs) {
      if (!b.mimeType.startsWith('audio/')) continue;
      const rate = Number(/rate=(\d+)/.exec(b.mimeType)?.[1] ?? 16000);
      const bytes = Buffer.from(b.data, 'base64');
      const aligned = bytes.byteOffset % 2 === 0 ? bytes : Buffer.from(bytes);
      const pcm = new Int16Array(aligned.buffer, aligned.byteOffset, Math.floor(aligned.length / 2));
      const v = voicedRange(pcm, rate);
      conn.audioIn.push({
        at: t,
        samples: pcm.length,
        rate,
        voicedFromMs: v.from,
        voicedToMs: v.to,
        voicedMs: v.ms,
      });
      conn.audioInSeconds += pcm.length / rate;
    }
  }

  /** Connections opened at or after `since`. */
  since(since: number): TapConnection[] {
    return this.connections.filter((c) => c.openedAt >= since);
  }

  async close(): Promise<void> {
    for (const ws of this.#sockets) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.#http.close(() => resolve());
      this.#http.closeAllConnections();
    });
  }
}
