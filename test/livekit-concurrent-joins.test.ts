import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { SignalRequest, SignalResponse } from '@livekit/protocol';
import type { Room } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { LiveKitDevServer } from '../emulators/livekit/index.ts';
import {
  connectRtc,
  heardFrequency,
  measureFrequency,
  mintToken,
  publishTone,
  startServer,
  waitFor,
  waitForRemoteAudio,
} from './livekit-helpers.ts';

/** How long the proxy holds each publisher answer: a dev server on a saturated machine. */
const ANSWER_DELAY_MS = 2500;

/**
 * A signal proxy in front of the dev server that holds every publisher `answer` for a while (and
 * nothing else), as a loaded server does when ICE gathering for the answer is slow, and reports the
 * client's publisher offers. Everything else, media included, goes straight to the server.
 */
class SlowAnswerProxy {
  readonly url: Promise<string>;
  /** Publisher offers seen from clients, in order. */
  readonly offers: { at: number }[] = [];
  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<WebSocket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(upstream: string) {
    const base = new URL(upstream.replace(/^ws/, 'http'));
    // Plain HTTP (e.g. /rtc/validate) goes to the server unchanged.
    this.http = createServer((req, res) => {
      const forward = request(
        { host: base.hostname, port: base.port, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      forward.on('error', () => res.writeHead(502).end());
      req.pipe(forward);
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = req.url ?? '/';
      if (new URL(path, base).pathname !== '/rtc') {
        // Anything but v0 signalling (e.g. /rtc/v1, which the server refuses): the server answers.
        const raw = connect(Number(base.port), base.hostname, () => {
          const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`);
          raw.write(`${req.method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
          raw.write(head);
          raw.pipe(socket).pipe(raw);
        });
        raw.on('error', () => socket.destroy());
        socket.on('error', () => raw.destroy());
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (client) =>
        this.bridge(client, `${upstream}${path}`, req.headers.authorization),
      );
    });
    this.url = new Promise((resolve) =>
      this.http.listen(0, '127.0.0.1', () => {
        const address = this.http.address();
        resolve(`ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
      }),
    );
  }

  private bridge(client: WebSocket, target: string, authorization: string | undefined): void {
    // Clients send their token as a bearer header.
    const server = new WebSocket(target, { headers: authorization ? { authorization } : {} });
    this.sockets.add(client);
    this.sockets.add(server);
    const early: Buffer[] = [];
    client.on('message', (data: Buffer) => {
      try {
        if (SignalRequest.fromBinary(data).message.case === 'offer') this.offers.push({ at: Date.now() });
      } catch {}
      if (server.readyState === WebSocket.OPEN) server.send(data);
      else early.push(data);
    });
    server.on('open', () => {
      for (const data of early.splice(0)) server.send(data);
    });
    server.on('message', (data: Buffer) => {
      let isAnswer = false;
      try {
        isAnswer = SignalResponse.fromBinary(data).message.case === 'answer';
      } catch {}
      if (!isAnswer) {
        if (client.readyState === WebSocket.OPEN) client.send(data);
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (client.readyState === WebSocket.OPEN) client.send(data);
      }, ANSWER_DELAY_MS);
      this.timers.add(timer);
    });
    const closeBoth = () => {
      client.close();
      server.close();
    };
    client.on('close', closeBoth);
    server.on('close', closeBoth);
    client.on('error', () => {});
    server.on('error', () => {});
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.terminate();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

/** The JoinResponse a raw signal client gets for `token`. */
async function joinResponse(server: LiveKitDevServer, token: string) {
  const ws = new WebSocket(`${server.url}/rtc?protocol=16&sdk=js`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  try {
    const first = await new Promise<SignalResponse>((resolve, reject) => {
      ws.once('message', (data: Buffer) => resolve(SignalResponse.fromBinary(data)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    if (first.message.case !== 'join') throw new Error(`expected a join response, got ${first.message.case}`);
    return first.message.value;
  } finally {
    ws.terminate();
  }
}

describe('LiveKit dev server: fastPublish', () => {
  let server: LiveKitDevServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('asks publishers, and only them, to set up their publisher connection at join (as livekit-server)', async () => {
    const publisher = await joinResponse(server, await mintToken(server, 'pub', { room: 'fast' }));
    expect(publisher.subscriberPrimary).toBe(true);
    expect(publisher.fastPublish).toBe(true);
    const listener = await joinResponse(
      server,
      await mintToken(server, 'listener', { room: 'fast', canPublish: false }),
    );
    expect(listener.fastPublish).toBe(false);
  });
});

describe('LiveKit dev server: publishing while a publisher answer is still on its way', () => {
  let server: LiveKitDevServer;
  let proxy: SlowAnswerProxy;
  const rooms: Room[] = [];
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startServer();
    proxy = new SlowAnswerProxy(server.url);
    await proxy.url;
  });
  afterAll(async () => {
    for (const s of stops) s();
    // A client whose engine is wedged never finishes disconnecting: do not wait for it forever.
    const bounded = (p: Promise<unknown>) =>
      Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
    await Promise.all(rooms.map((r) => bounded(r.disconnect())));
    await proxy?.close();
    await server?.close();
  }, 30_000);

  it('an agent that sends data, then publishes before the first answer arrives, is heard and hears', async () => {
    // The user is in the room and publishing before the agent comes, as in a dispatched session.
    const user = await connectRtc(server, 'user', 'slow-answer');
    rooms.push(user);
    stops.push(await publishTone(user, 440));

    // The agent's signalling goes through the slow proxy; like an agent job, it sends data right away
    // (which opens its publisher connection) and publishes its track while that first offer is
    // still unanswered.
    const agent = await connectRtc({ ...server, url: await proxy.url }, 'agent', 'slow-answer', {
      agent: true,
    });
    rooms.push(agent);
    void agent
      .localParticipant!.publishData(new TextEncoder().encode('hello'), { reliable: true })
      .catch(() => {});
    await waitFor(() => proxy.offers.length >= 1, 'the agent’s first publisher offer', 30_000);
    stops.push(await publishTone(agent, 1000));

    // The room sees the agent's track (ListParticipants announces it once its media arrives)…
    const svc = new RoomServiceClient(server.url.replace(/^ws/, 'http'), server.apiKey, server.apiSecret);
    await waitFor(
      async () => {
        const list = await svc.listParticipants('slow-answer');
        return list.find((p) => p.identity === 'agent')?.tracks.length === 1;
      },
      'the agent’s track in ListParticipants',
      60_000,
    );
    // …the user hears the agent, and the agent hears the user.
    const [heardByUser, heardByAgent] = await Promise.all([
      heardFrequency(user, 'agent'),
      heardFrequency(agent, 'user'),
    ]);
    expect(heardByUser).toBeGreaterThan(960);
    expect(heardByUser).toBeLessThan(1040);
    expect(heardByAgent).toBeGreaterThan(420);
    expect(heardByAgent).toBeLessThan(460);

    // The agent's signalling is still alive: a track published after all this reaches it too.
    const late = await connectRtc(server, 'late', 'slow-answer');
    rooms.push(late);
    const lateHeard = waitForRemoteAudio(agent, 'late');
    stops.push(await publishTone(late, 700));
    expect(await measureFrequency(await lateHeard)).toBeGreaterThan(660);
  }, 150_000);
});
