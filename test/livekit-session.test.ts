import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  LeaveRequest_Action,
  ParticipantInfo_State,
  SessionDescription,
  SignalRequest,
  SignalResponse,
  SignalTarget,
  TrickleRequest,
} from '@livekit/protocol';
import {
  AudioSource,
  LocalAudioTrack,
  type RemoteParticipant,
  type Room,
  RoomEvent,
  SimulateScenarioKind,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RTCPeerConnection } from 'werift';
import WebSocket from 'ws';
import type { LiveKitDevServer } from '../emulators/livekit/index.ts';
import {
  analyseTone,
  connectRtc,
  heardFrequency,
  measureFrequency,
  mintToken,
  once,
  publishTone,
  startServer,
  waitFor,
  waitForRemoteAudio,
} from './livekit-helpers.ts';

/** Opens `/rtc` with a raw WebSocket; resolves to the socket or to the HTTP status + body of a refusal. */
function rawSignal(
  url: string,
  token: string,
  query = '',
): Promise<
  | { ws: WebSocket; first: Promise<SignalResponse>; messages: SignalResponse[] }
  | { status: number; body: string }
> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/rtc?protocol=16&sdk=js${query}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    // Recorded from the start: a burst of server messages is delivered within one tick.
    const messages: SignalResponse[] = [];
    const first = new Promise<SignalResponse>((res) => {
      ws.on('message', (data) => {
        messages.push(SignalResponse.fromBinary(data as Buffer));
        if (messages.length === 1) res(messages[0]!);
      });
    });
    ws.once('open', () => resolve({ ws, first, messages }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => reject(err));
  });
}

/**
 * Drops a signal socket without a `leave`, and resolves once the server has seen it go. A killed socket
 * can look open to the server for a moment, and what it writes then is lost on the wire (as with any
 * server): tests of what is kept for a resume must start after the server knows.
 */
async function dropSocket(ws: WebSocket): Promise<void> {
  const closed = new Promise((r) => ws.once('close', r));
  ws.close();
  await closed;
}

describe('LiveKit dev server: sessions, auth and grants', () => {
  let server: LiveKitDevServer;
  const rooms: Room[] = [];
  const sockets: WebSocket[] = [];
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startServer({ reconnectGrace: 2 });
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) s();
    for (const r of rooms.splice(0)) await r.disconnect().catch(() => {});
    for (const ws of sockets.splice(0)) ws.terminate();
  });
  afterAll(async () => {
    await server?.close();
  });

  async function join(identity: string, room: string, grant = {}, extra = {}) {
    const r = await connectRtc(server, identity, room, grant, extra);
    rooms.push(r);
    return r;
  }

  it('refuses bad tokens on the upgrade with 401 and a reason', async () => {
    const secret = new TextEncoder().encode(server.apiSecret);
    const expired = await new SignJWT({ video: { roomJoin: true, room: 'r' } })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(server.apiKey)
      .setSubject('late')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(secret);
    const wrongSecret = await mintToken({ apiKey: server.apiKey, apiSecret: 'x'.repeat(40) }, 'eve', {
      room: 'r',
    });
    const unknownKey = await mintToken({ apiKey: 'nokey', apiSecret: server.apiSecret }, 'eve', {
      room: 'r',
    });
    const noJoin = await mintToken(server, 'eve', { room: 'r', roomJoin: false });
    // Claims of another JSON type than livekit-server's are an invalid token there, not room state.
    const mistyped = (claims: Record<string, unknown>) =>
      new SignJWT({ video: { roomJoin: true, room: 'r' }, ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(server.apiKey)
        .setSubject('eve')
        .setExpirationTime('10m')
        .sign(secret);
    const good = await mintToken(server, 'eve', { room: 'r' });
    const cases: [string, string, string, RegExp][] = [
      ['garbage', 'not-a-jwt', '', /malformed/],
      ['expired', expired, '', /expired/],
      ['wrong secret', wrongSecret, '', /signature/],
      ['unknown key', unknownKey, '', /unknown API key/],
      ['no roomJoin', noJoin, '', /roomJoin/],
      ['wrong room', good, '&room=other', /not "other"/],
      ['object attribute', await mistyped({ attributes: { a: { b: 1 } } }), '', /"attributes.a"/],
      ['number room', await mistyped({ video: { roomJoin: true, room: 42 } }), '', /"video.room"/],
      ['object name', await mistyped({ name: { a: 1 } }), '', /"name"/],
      [
        'string flag',
        await mistyped({ video: { roomJoin: true, room: 'r', hidden: 'yes' } }),
        '',
        /"video.hidden"/,
      ],
      [
        'string sources',
        await mistyped({ video: { roomJoin: true, room: 'r', canPublishSources: 'camera' } }),
        '',
        /"video.canPublishSources"/,
      ],
    ];
    for (const [name, token, query, reason] of cases) {
      const res = await rawSignal(server.url, token, query);
      expect('status' in res ? [res.status, res.body] : 'accepted', name).toEqual([
        401,
        expect.stringMatching(reason),
      ]);
    }
    const validate = await fetch(`${server.url.replace('ws', 'http')}/rtc/validate?access_token=${expired}`);
    expect(validate.status).toBe(401);
    expect(await validate.text()).toMatch(/expired/);
    // The real client surfaces the refusal as a failed connect.
    await expect(connectRtcWithToken(server, wrongSecret)).rejects.toThrow();
  });

  it('refuses a token whose issuer is a name every object has, signed with what that name holds', async () => {
    // The key table was a plain object: `keys["constructor"]` is Object, whose text anyone knows, so a
    // forger could mint a hidden agent that joins any room and reads its data.
    const inherited = Object.prototype as unknown as Record<string, unknown>;
    const forge = (issuer: string) =>
      new SignJWT({ video: { roomJoin: true, room: 'victim', hidden: true, agent: true } })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(issuer)
        .setSubject('ghost')
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(String(inherited[issuer])));
    const victim = await join('victim-a', 'victim');
    const http = server.url.replace('ws', 'http');
    for (const issuer of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const token = await forge(issuer);
      const validate = await fetch(`${http}/rtc/validate?access_token=${token}`);
      expect([issuer, validate.status, await validate.text()]).toEqual([
        issuer,
        401,
        expect.stringMatching(/unknown API key/),
      ]);
      const res = await rawSignal(server.url, token);
      expect([issuer, 'status' in res ? res.status : 'accepted']).toEqual([issuer, 401]);
    }
    await expect(connectRtcWithToken(server, await forge('constructor'))).rejects.toThrow();
    expect(server.directory.listParticipants('victim').map((p) => p.identity)).toEqual(['victim-a']);
    expect(victim.remoteParticipants.size).toBe(0);
  });

  it('announces a leave to the others and to the room directory', async () => {
    const left: string[] = [];
    const off = server.directory.on('participantLeft', (_room, p) => left.push(p.identity));
    const a = await join('a', 'leave');
    const b = await join('b', 'leave');
    await waitFor(() => a.remoteParticipants.has('b'), 'b visible');
    expect(
      server.directory
        .listParticipants('leave')
        .map((p) => p.identity)
        .sort(),
    ).toEqual(['a', 'b']);
    const gone = once<[RemoteParticipant]>(a as never, RoomEvent.ParticipantDisconnected);
    await b.disconnect();
    expect((await gone)[0].identity).toBe('b');
    await waitFor(() => left.includes('b'), 'participantLeft');
    expect(server.directory.listParticipants('leave').map((p) => p.identity)).toEqual(['a']);
    off();
  });

  it('resumes after the signal socket drops: same session, media still flows', async () => {
    const a = await join('a', 'resume');
    const b = await join('b', 'resume');
    stops.push(await publishTone(a, 600));
    await heardFrequency(b, 'a', 0.2);
    let bSawLeave = false;
    b.on(RoomEvent.ParticipantDisconnected, () => {
      bSawLeave = true;
    });
    const sidBefore = server.directory.getParticipant('resume', 'a')?.sid;
    const reconnected = once(a as never, RoomEvent.Reconnected);
    await a.simulateScenario(SimulateScenarioKind.SIMULATE_SIGNAL_RECONNECT);
    await reconnected;
    expect(server.directory.getParticipant('resume', 'a')?.sid).toBe(sidBefore);
    // Signalling works again (a round trip through the server) and the tone still arrives.
    await a.localParticipant!.setAttributes({ after: 'resume' }).catch(() => {});
    const tone = await analyseTone(await waitForRemoteAudio(b, 'a'), 0.5);
    const freq = tone.frequency;
    expect(freq).toBeGreaterThan(570);
    expect(freq).toBeLessThan(630);
    expect(bSawLeave).toBe(false);
  });

  it('lets a client rejoin after a full reconnect and republish', async () => {
    const a = await join('a', 'full');
    const b = await join('b', 'full');
    stops.push(await publishTone(a, 800));
    await waitForRemoteAudio(b, 'a');
    const reconnected = once(a as never, RoomEvent.Reconnected);
    await a.simulateScenario(SimulateScenarioKind.SIMULATE_FULL_RECONNECT);
    await reconnected;
    await waitFor(() => server.directory.listParticipants('full').length === 2, 'two participants again');
    const track = await waitFor(() => {
      const pub = [...(b.remoteParticipants.get('a')?.trackPublications.values() ?? [])][0];
      return pub?.track ?? undefined;
    }, 'republished track');
    const freq = await measureFrequency(track as never, 0.5);
    expect(freq).toBeGreaterThan(760);
    expect(freq).toBeLessThan(840);
  });

  it('plays the server side of the SDK chaos scenarios', async () => {
    const a = await join('a', 'chaos');
    const b = await join('b', 'chaos');
    await waitFor(() => b.remoteParticipants.has('a'), 'a visible');

    // Node failure: the server asks for a full reconnect; the client rejoins as a new session.
    const sid1 = server.directory.getParticipant('chaos', 'a')?.sid;
    let reconnected = once(a as never, RoomEvent.Reconnected);
    await a.simulateScenario(SimulateScenarioKind.SIMULATE_NODE_FAILURE);
    await reconnected;
    const sid2 = await waitFor(() => {
      const sid = server.directory.getParticipant('chaos', 'a')?.sid;
      return sid !== sid1 ? sid : undefined;
    }, 'a new session');

    // A cut resume escalates to a full reconnect too.
    reconnected = once(a as never, RoomEvent.Reconnected);
    await a.simulateScenario(SimulateScenarioKind.SIMULATE_DISCONNECT_SIGNAL_ON_RESUME);
    await reconnected;
    await waitFor(() => {
      const sid = server.directory.getParticipant('chaos', 'a')?.sid;
      return sid !== undefined && sid !== sid2;
    }, 'another new session');

    // Server leave: the client is disconnected for good.
    const disconnected = once(a as never, RoomEvent.Disconnected);
    await a.simulateScenario(SimulateScenarioKind.SIMULATE_SERVER_LEAVE);
    await disconnected;
    await waitFor(() => !b.remoteParticipants.has('a'), 'b sees a leave');
  });

  it('replays what a resuming client missed, and refuses a resume after too much', async () => {
    const token = await mintToken(server, 'away', { room: 'missed' });
    const first = await rawSignal(server.url, token);
    if ('status' in first) throw new Error(`join refused: ${first.status}`);
    const join = await first.first;
    const sid = join.message.case === 'join' ? join.message.value.participant?.sid : undefined;
    expect(sid).toMatch(/^PA_/);
    const other = await join2('other', 'missed');
    await join2('noisy', 'missed');
    await waitFor(() => server.directory.listParticipants('missed').length === 3, 'all in the room');
    await dropSocket(first.ws);
    // While "away" is disconnected, "other" leaves: only the kept update can tell it (a snapshot of the
    // room no longer lists "other").
    await other.disconnect();
    await waitFor(() => server.directory.getParticipant('missed', 'other') === undefined, 'other gone');

    const resumed = await rawSignal(server.url, token, `&reconnect=1&sid=${sid}`);
    if ('status' in resumed) throw new Error(`resume refused: ${resumed.status}`);
    const messages = resumed.messages;
    expect((await resumed.first).message.case).toBe('reconnect');
    await waitFor(
      () =>
        messages.some(
          (m) =>
            m.message.case === 'update' &&
            m.message.value.participants.some(
              (p) => p.identity === 'other' && p.state === ParticipantInfo_State.DISCONNECTED,
            ),
        ),
      'the missed leave',
    );

    // Gone again, and this time far more happens than the server keeps: the resume is refused.
    await dropSocket(resumed.ws);
    for (let i = 0; i < 600; i++)
      server.directory.updateParticipant('missed', 'noisy', { metadata: `m${i}` });
    const again = await rawSignal(server.url, token, `&reconnect=1&sid=${sid}`);
    if ('status' in again) throw new Error(`resume refused: ${again.status}`);
    sockets.push(again.ws);
    const answer = await again.first;
    expect(answer.message.case).toBe('leave');
    await waitFor(() => server.directory.getParticipant('missed', 'away') === undefined, 'away removed');
  });

  it('removes a participant whose signal socket vanished without a leave', async () => {
    const a = await join('a', 'vanish');
    const res = await rawSignal(server.url, await mintToken(server, 'ghost', { room: 'vanish' }));
    if ('status' in res) throw new Error(`join refused: ${res.status}`);
    const first = await res.first;
    expect(first.message.case).toBe('join');
    await waitFor(() => a.remoteParticipants.has('ghost'), 'ghost visible');
    const gone = once<[RemoteParticipant]>(
      a as never,
      RoomEvent.ParticipantDisconnected,
      (p) => p.identity === 'ghost',
    );
    res.ws.terminate();
    await gone;
  });

  it('tolerates malformed protobuf on the signal socket', async () => {
    const a = await join('a', 'garbage');
    const res = await rawSignal(server.url, await mintToken(server, 'fuzzer', { room: 'garbage' }));
    if ('status' in res) throw new Error(`join refused: ${res.status}`);
    sockets.push(res.ws);
    await res.first;
    const pong = new Promise<SignalResponse>((resolve) => {
      res.ws.on('message', (data) => {
        const msg = SignalResponse.fromBinary(data as Buffer);
        if (msg.message.case === 'pongResp') resolve(msg);
      });
    });
    for (const junk of [
      Buffer.from([0xff, 0xff, 0xff]),
      Buffer.alloc(1000, 0x0a),
      Buffer.from('{"offer":1}'),
    ]) {
      res.ws.send(junk);
    }
    res.ws.send('text frame');
    res.ws.send(
      new SignalRequest({ message: { case: 'pingReq', value: { timestamp: 42n, rtt: 0n } } }).toBinary(),
    );
    expect((await pong).message.value).toMatchObject({ lastPingTimestamp: 42n });
    // The room is undisturbed: the real client still sees newcomers.
    const joined = once<[RemoteParticipant]>(
      a as never,
      RoomEvent.ParticipantConnected,
      (p) => p.identity === 'c',
    );
    await join('c', 'garbage');
    await joined;
  });

  it('offers again after an answer it cannot apply, and asks for a full reconnect after three', async () => {
    const speaker = await join('speaker', 'bad-answer');
    stops.push(await publishTone(speaker, 500));
    const res = await rawSignal(server.url, await mintToken(server, 'broken', { room: 'bad-answer' }));
    if ('status' in res) throw new Error(`join refused: ${res.status}`);
    sockets.push(res.ws);
    const offers = () => res.messages.filter((m) => m.message.case === 'offer');
    for (let i = 0; i < 3; i++) {
      const offer = await waitFor(() => offers()[i], `subscriber offer ${i + 1}`, 10_000);
      const id = offer.message.case === 'offer' ? offer.message.value.id : 0;
      res.ws.send(
        new SignalRequest({
          message: { case: 'answer', value: { type: 'answer', sdp: 'v=0\r\nnot an answer\r\n', id } },
        }).toBinary(),
      );
    }
    const leave = await waitFor(
      () => res.messages.find((m) => m.message.case === 'leave'),
      'a full-reconnect request',
      10_000,
    );
    expect(leave.message.value).toMatchObject({ canReconnect: true, action: LeaveRequest_Action.RECONNECT });
    expect(offers()).toHaveLength(3);
  });

  it('answers a publisher offer that came with mDNS candidates at once, ignoring them as livekit-server does', async () => {
    // A page without microphone permission (livekit-client's useSession().start() publishes while it
    // connects) trickles its host candidates as <uuid>.local names, and its first ones often reach the
    // server in the same burst as the offer. Resolving them over multicast DNS (10 s each, no answer on
    // most hosts) held the answer past livekit-client's 15 s peerConnectionTimeout.
    const res = await rawSignal(server.url, await mintToken(server, 'page', { room: 'mdns' }));
    if ('status' in res) throw new Error(`join refused: ${res.status}`);
    sockets.push(res.ws);
    await res.first;
    const page = new RTCPeerConnection();
    try {
      page.createDataChannel('_reliable');
      await page.setLocalDescription(await page.createOffer());
      // As a browser offers: its candidates come by trickle, not in the SDP (werift gathers them all first).
      const sdp = page
        .localDescription!.sdp.split('\r\n')
        .filter((l) => !/^a=(candidate|end-of-candidates)/.test(l))
        .join('\r\n');
      const sdpMid = /a=mid:(\S+)/.exec(sdp)![1];
      const request = (message: SignalRequest['message']) => new SignalRequest({ message }).toBinary();
      // One TCP segment: the server reads the offer and the candidates in one go, as it does a browser's.
      const socket = (res.ws as unknown as { _socket: Socket })._socket;
      socket.cork();
      res.ws.send(request({ case: 'offer', value: new SessionDescription({ type: 'offer', sdp, id: 1 }) }));
      for (let n = 1; n <= 3; n++) {
        const candidate = `candidate:${n} 1 udp 2113937151 ${randomUUID()}.local ${50_000 + n} typ host generation 0`;
        res.ws.send(
          request({
            case: 'trickle',
            value: new TrickleRequest({
              target: SignalTarget.PUBLISHER,
              candidateInit: JSON.stringify({ candidate, sdpMid, sdpMLineIndex: 0 }),
            }),
          }),
        );
      }
      socket.uncork();
      const answer = await waitFor(
        () => res.messages.find((m) => m.message.case === 'answer'),
        "the publisher's answer, within livekit-client's peerConnectionTimeout",
        15_000,
      );
      expect(answer.message.value).toMatchObject({ type: 'answer', id: 1 });
    } finally {
      await page.close();
    }
  });

  it('enforces canPublish and canSubscribe', async () => {
    const viewer = await join('viewer', 'grants', { canPublish: false });
    const deaf = await join('deaf', 'grants', { canSubscribe: false });
    const speaker = await join('speaker', 'grants');
    stops.push(await publishTone(speaker, 500));
    await waitForRemoteAudio(viewer, 'speaker');

    const source = new AudioSource(48000, 1);
    const track = LocalAudioTrack.createAudioTrack('nope', source);
    const outcome = await Promise.race([
      viewer
        .localParticipant!.publishTrack(
          track,
          new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
        )
        .then(
          () => 'published',
          () => 'refused',
        ),
      waitFor(
        () => (speaker.remoteParticipants.get('viewer')?.trackPublications.size ?? 0) > 0,
        'never',
        15_000,
      ).then(
        () => 'visible',
        () => 'invisible',
      ),
    ]);
    expect(outcome).toBe('refused');
    expect(speaker.remoteParticipants.get('viewer')?.trackPublications.size ?? 0).toBe(0);
    await source.close().catch(() => {});

    // The speaker's track is listed for the deaf participant but never subscribed.
    await waitFor(
      () => (deaf.remoteParticipants.get('speaker')?.trackPublications.size ?? 0) > 0,
      'publication listed',
    );
    const pub = [...deaf.remoteParticipants.get('speaker')!.trackPublications.values()][0]!;
    // viewer got it through the same fan-out, so deaf would have too by now.
    await waitForRemoteAudio(viewer, 'speaker');
    expect(pub.track).toBeFalsy();
  });

  it('fires room directory events and isolates throwing listeners', async () => {
    const events: string[] = [];
    const offs = [
      server.directory.on('roomStarted', (room, agents) => {
        if (room.name === 'events')
          events.push(`started:${room.name}:${agents.map((a) => a.agentName).join(',')}`);
        throw new Error('listener bug');
      }),
      server.directory.on('participantJoined', (room, p, agents) => {
        if (room.name === 'events')
          events.push(`joined:${room.name}:${p.identity}:${agents.map((a) => a.agentName).join(',')}`);
        throw new Error('listener bug');
      }),
      server.directory.on('roomFinished', (room) => {
        // Other tests' rooms finish on their departure timeout meanwhile: only this room counts.
        if (room.name === 'events') events.push(`finished:${room.name}`);
      }),
    ];
    const { RoomAgentDispatch, RoomConfiguration } = await import('@livekit/protocol');
    const withAgent = (name: string) => ({
      roomConfig: new RoomConfiguration({
        agents: [new RoomAgentDispatch({ agentName: name, metadata: '{}' })],
      }),
    });
    await joinWithGrants('first', 'events', withAgent('helper'));
    await joinWithGrants('second', 'events', withAgent('second-helper'));
    expect(events).toEqual(['started:events:helper', 'joined:events:second:second-helper']);
    expect(server.directory.deleteRoom('events')).toBe(true);
    expect(events).toContain('finished:events');
    for (const off of offs) off();
  });

  async function join2(identity: string, room: string) {
    const r = await connectRtc(server, identity, room);
    rooms.push(r);
    return r;
  }

  async function joinWithGrants(identity: string, room: string, extra: { roomConfig: unknown }) {
    const { AccessToken } = await import('livekit-server-sdk');
    const at = new AccessToken(server.apiKey, server.apiSecret, { identity });
    at.addGrant({ roomJoin: true, room });
    at.roomConfig = extra.roomConfig as never;
    const r = await connectRtcWithToken(server, await at.toJwt());
    rooms.push(r);
    return r;
  }
});

async function connectRtcWithToken(server: LiveKitDevServer, token: string): Promise<Room> {
  const { Room } = await import('@livekit/rtc-node');
  const r = new Room();
  await r.connect(server.url, token, { autoSubscribe: true, dynacast: false });
  return r;
}
