/**
 * Twirp RoomService / AgentDispatchService of the LiveKit dev server, driven by the real
 * `livekit-server-sdk` clients (and raw HTTP for the wire details), with real `@livekit/rtc-node`
 * participants in the rooms.
 */

import {
  CreateRoomRequest,
  DataPacket_Kind,
  ListRoomsRequest,
  ListRoomsResponse,
  ParticipantInfo_State,
  type Room as RoomInfo,
} from '@livekit/protocol';
import {
  dispose,
  type Participant,
  type RemoteTrack,
  RoomEvent,
  type Room as RtcRoom,
  type TrackPublication,
} from '@livekit/rtc-node';
import {
  AccessToken,
  AgentDispatchClient,
  RoomServiceClient,
  TwirpError,
  type VideoGrant,
} from 'livekit-server-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { connectParticipant, waitFor } from './livekit-control-helpers.ts';
import {
  connectRtc,
  loudFrames,
  measureFrequency,
  once,
  publishTone,
  tempLiveKitConfig,
  waitForRemoteAudio,
} from './livekit-helpers.ts';

let server: LiveKitDevServer;
let httpUrl: string;
let rooms: RoomServiceClient;
let dispatch: AgentDispatchClient;
const clients: RtcRoom[] = [];

beforeAll(async () => {
  server = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  httpUrl = server.url.replace('ws://', 'http://');
  rooms = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
  dispatch = new AgentDispatchClient(server.url, server.apiKey, server.apiSecret);
});

const stops: (() => void)[] = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => {})));
});

afterAll(async () => {
  await server?.close();
  await dispose();
});

async function join(room: string, identity: string): Promise<RtcRoom> {
  const c = await connectParticipant(server, room, identity);
  clients.push(c);
  return c;
}

async function token(
  grant: VideoGrant,
  key = server.apiKey,
  secret = server.apiSecret,
  ttl: string | number = '5m',
) {
  // An identity is only required for joins; admin tools usually set one anyway.
  const at = new AccessToken(key, secret, { ttl, identity: 'admin-tool' });
  at.addGrant(grant);
  return at.toJwt();
}

async function post(method: string, body: string | Uint8Array, headers: Record<string, string>) {
  const res = await fetch(`${httpUrl}/twirp/${method}`, {
    method: 'POST',
    body: body as unknown as BodyInit,
    headers,
  });
  const text = Buffer.from(await res.arrayBuffer());
  return { status: res.status, contentType: res.headers.get('content-type'), body: text };
}

async function expectTwirpError(p: Promise<unknown>, status: number, code: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TwirpError);
  expect((err as TwirpError).status).toBe(status);
  expect((err as TwirpError).code).toBe(code);
}

describe('RoomService', () => {
  test('CreateRoom, ListRooms and DeleteRoom round-trip', async () => {
    const created = await rooms.createRoom({ name: 'tw-create', metadata: 'hello', emptyTimeout: 120 });
    expect(created.name).toBe('tw-create');
    expect(created.sid).toMatch(/^RM_/);
    expect(created.metadata).toBe('hello');

    // Creating an existing room answers the existing one.
    expect((await rooms.createRoom({ name: 'tw-create' })).sid).toBe(created.sid);

    const listed = await rooms.listRooms();
    expect(listed.map((r) => r.name)).toContain('tw-create');
    expect((await rooms.listRooms(['tw-create'])).map((r) => r.sid)).toEqual([created.sid]);
    expect(await rooms.listRooms(['tw-no-such-room'])).toEqual([]);

    await rooms.deleteRoom('tw-create');
    expect(await rooms.listRooms(['tw-create'])).toEqual([]);
    await expectTwirpError(rooms.deleteRoom('tw-create'), 404, 'not_found');
  });

  test('DeleteRoom disconnects the participants', async () => {
    const alice = await join('tw-delete', 'alice');
    const disconnected = new Promise<void>((resolve) => alice.once(RoomEvent.Disconnected, () => resolve()));
    await rooms.deleteRoom('tw-delete');
    await disconnected;
    expect(await rooms.listRooms(['tw-delete'])).toEqual([]);
  });

  test('participants: list, get, update, remove', async () => {
    const alice = await join('tw-people', 'alice');
    await join('tw-people', 'bob');

    const list = await rooms.listParticipants('tw-people');
    expect(list.map((p) => p.identity).sort()).toEqual(['alice', 'bob']);
    // JOINED until its transport is up, then ACTIVE.
    const bob = await waitFor(async () => {
      const p = await rooms.getParticipant('tw-people', 'bob');
      return p.state === ParticipantInfo_State.ACTIVE && p;
    }, 'bob active');
    expect(bob.identity).toBe('bob');
    await expectTwirpError(rooms.getParticipant('tw-people', 'carol'), 404, 'not_found');
    expect(await rooms.listParticipants('tw-nobody-here')).toEqual([]);

    // A server-side update reaches the other participants like a self-update does.
    await waitFor(() => alice.remoteParticipants.get('bob'), 'alice sees bob');
    const seen = new Promise<Record<string, string>>((resolve) =>
      alice.on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => {
        if (p.identity === 'bob' && p.attributes.role === 'host') resolve({ ...p.attributes });
      }),
    );
    const updated = await rooms.updateParticipant('tw-people', 'bob', {
      metadata: 'bob-meta',
      name: 'Bob',
      attributes: { role: 'host' },
    });
    expect(updated.metadata).toBe('bob-meta');
    expect(updated.name).toBe('Bob');
    expect(updated.attributes).toMatchObject({ role: 'host' });
    expect(await seen).toMatchObject({ role: 'host' });
    await expectTwirpError(
      rooms.updateParticipant('tw-people', 'carol', { metadata: 'x' }),
      404,
      'not_found',
    );
    await expectTwirpError(
      rooms.updateParticipant('tw-people', 'bob', { metadata: 'x'.repeat(70_000) }),
      400,
      'invalid_argument',
    );

    const gone = new Promise<string>((resolve) =>
      alice.on(RoomEvent.ParticipantDisconnected, (p) => resolve(p.identity)),
    );
    await rooms.removeParticipant('tw-people', 'bob');
    expect(await gone).toBe('bob');
    expect((await rooms.listParticipants('tw-people')).map((p) => p.identity)).toEqual(['alice']);
    await expectTwirpError(rooms.removeParticipant('tw-people', 'bob'), 404, 'not_found');
  });

  test('SendData reaches the addressed participants with its topic', async () => {
    const alice = await join('tw-data', 'alice');
    const bob = await join('tw-data', 'bob');
    const received = (r: RtcRoom) =>
      new Promise<{ text: string; topic: string | undefined; from: string | undefined }>((resolve) =>
        r.on(RoomEvent.DataReceived, (payload, participant, _kind, topic) =>
          resolve({ text: Buffer.from(payload).toString(), topic, from: participant?.identity }),
        ),
      );
    const atBob = received(bob);
    await rooms.sendData('tw-data', new TextEncoder().encode('to bob'), DataPacket_Kind.RELIABLE, {
      topic: 'server.news',
      destinationIdentities: ['bob'],
    });
    expect(await atBob).toEqual({ text: 'to bob', topic: 'server.news', from: undefined });

    const atAlice = received(alice);
    const atBob2 = received(bob);
    await rooms.sendData('tw-data', new TextEncoder().encode('to all'), DataPacket_Kind.RELIABLE, {});
    expect((await atAlice).text).toBe('to all');
    expect((await atBob2).text).toBe('to all');

    await expectTwirpError(
      rooms.sendData('tw-no-room', new Uint8Array([1]), DataPacket_Kind.RELIABLE, {}),
      404,
      'not_found',
    );
  });
});

describe('RoomService: room metadata, remote mute, subscriptions', () => {
  test('UpdateRoomMetadata reaches every participant and ListRooms', async () => {
    const alice = await join('tw-meta', 'alice');
    const seen = once<[string]>(alice as never, RoomEvent.RoomMetadataChanged);
    const room = await rooms.updateRoomMetadata('tw-meta', '{"topic":"standup"}');
    expect(room.name).toBe('tw-meta');
    expect(room.metadata).toBe('{"topic":"standup"}');
    const [metadata] = await seen;
    expect(metadata).toBe('{"topic":"standup"}');
    expect(alice.metadata).toBe('{"topic":"standup"}');
    expect((await rooms.listRooms(['tw-meta']))[0]?.metadata).toBe('{"topic":"standup"}');
    await expectTwirpError(rooms.updateRoomMetadata('tw-no-room', 'x'), 404, 'not_found');
    await expectTwirpError(rooms.updateRoomMetadata('tw-meta', 'x'.repeat(70_000)), 400, 'invalid_argument');
  });

  test('MutePublishedTrack mutes at the publisher and for everyone; unmuting needs enable_remote_unmute', async () => {
    const speaker = await join('tw-mute', 'speaker');
    // rtc-node reports mutes of subscribed tracks only: this one auto-subscribes.
    const listener = await connectRtc(server, 'listener', 'tw-mute');
    clients.push(listener);
    stops.push(await publishTone(speaker, 440));
    const pub = [...speaker.localParticipant!.trackPublications.values()][0]!;
    await waitForRemoteAudio(listener, 'speaker');
    const mutedForOthers = once<[TrackPublication, Participant]>(
      listener as never,
      RoomEvent.TrackMuted,
      (_p, who) => who.identity === 'speaker',
    );
    const res = await rooms.mutePublishedTrack('tw-mute', 'speaker', pub.sid!, true);
    expect(res.sid).toBe(pub.sid);
    expect(res.muted).toBe(true);
    await mutedForOthers;
    // The publisher's SDK applied the server's order to its own track.
    await waitFor(() => pub.muted, 'the publisher muted its track');
    expect((await rooms.getParticipant('tw-mute', 'speaker')).tracks[0]?.muted).toBe(true);
    // A server may not turn someone's microphone back on unless the deployment allows it.
    await expectTwirpError(
      rooms.mutePublishedTrack('tw-mute', 'speaker', pub.sid!, false),
      412,
      'failed_precondition',
    );
    await expectTwirpError(rooms.mutePublishedTrack('tw-mute', 'nobody', pub.sid!, true), 404, 'not_found');
  });

  test('MutePublishedTrack unmutes when the room allows remote unmute', async () => {
    const config = tempLiveKitConfig((yaml) =>
      yaml.replace('room:\n', 'room:\n  enable_remote_unmute: true\n'),
    );
    const open = await startLiveKitDevServer({ port: 0, host: '127.0.0.1', configPath: config.path });
    const api = new RoomServiceClient(open.url, open.apiKey, open.apiSecret);
    const speaker = await connectParticipant(open, 'tw-unmute', 'speaker');
    try {
      stops.push(await publishTone(speaker, 440));
      const pub = [...speaker.localParticipant!.trackPublications.values()][0]!;
      await api.mutePublishedTrack('tw-unmute', 'speaker', pub.sid!, true);
      await waitFor(() => pub.muted, 'muted by the server');
      const res = await api.mutePublishedTrack('tw-unmute', 'speaker', pub.sid!, false);
      expect(res.muted).toBe(false);
      await waitFor(() => !pub.muted, 'unmuted by the server');
    } finally {
      await speaker.disconnect();
      await open.close();
      config.remove();
    }
  });

  test('UpdateSubscriptions subscribes and unsubscribes a participant from the server', async () => {
    const speaker = await join('tw-subs', 'speaker');
    // connectParticipant joins with autoSubscribe off: nothing arrives until asked for.
    const viewer = await join('tw-subs', 'viewer');
    stops.push(await publishTone(speaker, 550));
    const sid = await waitFor(
      () => [...(viewer.remoteParticipants.get('speaker')?.trackPublications.values() ?? [])][0]?.sid,
      'the track listed',
    );
    const subscribed = once(viewer as never, RoomEvent.TrackSubscribed);
    await rooms.updateSubscriptions('tw-subs', 'viewer', [sid], true);
    await subscribed;
    const track = viewer.remoteParticipants.get('speaker')!.trackPublications.get(sid)!.track as RemoteTrack;
    const heard = await measureFrequency(track, 0.5);
    expect(heard).toBeGreaterThan(520);
    expect(heard).toBeLessThan(580);
    // Unsubscribed by the server: the media stops (rtc-node keeps the track object, now silent).
    await rooms.updateSubscriptions('tw-subs', 'viewer', [sid], false);
    await waitFor(async () => (await loudFrames(track)) === 0, 'the tone stops at the viewer');
    expect((await rooms.getParticipant('tw-subs', 'speaker')).tracks[0]?.sid).toBe(sid);
    await expectTwirpError(rooms.updateSubscriptions('tw-subs', 'nobody', [sid], true), 404, 'not_found');
  });
});

describe('grants and errors', () => {
  test('a token signed with an unknown key or the wrong secret is unauthenticated (401)', async () => {
    const wrongSecret = new RoomServiceClient(server.url, server.apiKey, 'not-the-secret-0123456789abcdefgh');
    await expectTwirpError(wrongSecret.listRooms(), 401, 'unauthenticated');
    const unknownKey = new RoomServiceClient(server.url, 'nobody', 'whatever-0123456789abcdefghijklmn');
    await expectTwirpError(unknownKey.listRooms(), 401, 'unauthenticated');
    // Names every object has, signed with the text of what a plain object holds under them.
    const inherited = Object.prototype as unknown as Record<string, unknown>;
    for (const key of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const forged = new RoomServiceClient(server.url, key, String(inherited[key]));
      await expectTwirpError(forged.createRoom({ name: 'tw-forged' }), 401, 'unauthenticated');
    }
    expect(await rooms.listRooms(['tw-forged'])).toEqual([]);

    const body = new ListRoomsRequest().toJsonString();
    const none = await post('livekit.RoomService/ListRooms', body, { 'content-type': 'application/json' });
    expect(none.status).toBe(401);
    expect(none.contentType).toBe('application/json');
    expect(JSON.parse(none.body.toString()).code).toBe('unauthenticated');

    const expired = await token({ roomList: true }, server.apiKey, server.apiSecret, -60);
    const late = await post('livekit.RoomService/ListRooms', body, {
      'content-type': 'application/json',
      authorization: `Bearer ${expired}`,
    });
    expect(late.status).toBe(401);
    expect(JSON.parse(late.body.toString()).msg).toMatch(/expired/);
  });

  test('missing grants are permission_denied (403)', async () => {
    const asUser = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
    await join('tw-grants', 'alice');
    // Each call below is made with a token that lacks exactly the grant the method needs.
    const cases: [string, VideoGrant, string][] = [
      [
        'livekit.RoomService/CreateRoom',
        { roomList: true },
        new CreateRoomRequest({ name: 'x' }).toJsonString(),
      ],
      ['livekit.RoomService/ListRooms', { roomCreate: true }, '{}'],
      ['livekit.RoomService/DeleteRoom', { roomAdmin: true, room: 'tw-grants' }, '{"room":"tw-grants"}'],
      ['livekit.RoomService/ListParticipants', { roomAdmin: true, room: 'other' }, '{"room":"tw-grants"}'],
      [
        'livekit.RoomService/RemoveParticipant',
        { roomJoin: true, room: 'tw-grants' },
        '{"room":"tw-grants","identity":"alice"}',
      ],
      [
        'livekit.AgentDispatchService/ListDispatch',
        { roomAdmin: true, room: 'other' },
        '{"room":"tw-grants"}',
      ],
      [
        'livekit.AgentDispatchService/CreateDispatch',
        { roomCreate: true },
        '{"room":"tw-grants","agentName":"x"}',
      ],
    ];
    for (const [path, grant, body] of cases) {
      const r = await post(path, body, {
        'content-type': 'application/json',
        authorization: `Bearer ${await token(grant)}`,
      });
      expect({ path, status: r.status, code: JSON.parse(r.body.toString()).code }).toEqual({
        path,
        status: 403,
        code: 'permission_denied',
      });
    }
    // Nothing was changed by the refused calls.
    expect((await asUser.listParticipants('tw-grants')).map((p) => p.identity)).toEqual(['alice']);
  });

  test('protobuf bodies, malformed bodies and bad routes', async () => {
    await rooms.createRoom({ name: 'tw-proto' });
    const auth = { authorization: `Bearer ${await token({ roomList: true })}` };
    const bin = await post(
      'livekit.RoomService/ListRooms',
      new ListRoomsRequest({ names: ['tw-proto'] }).toBinary(),
      {
        ...auth,
        'content-type': 'application/protobuf',
      },
    );
    expect(bin.status).toBe(200);
    expect(bin.contentType).toBe('application/protobuf');
    const decoded = ListRoomsResponse.fromBinary(bin.body);
    expect(decoded.rooms.map((r: RoomInfo) => r.name)).toEqual(['tw-proto']);

    const badJson = await post('livekit.RoomService/ListRooms', '{"names": [', {
      ...auth,
      'content-type': 'application/json',
    });
    expect(badJson.status).toBe(400);
    expect(JSON.parse(badJson.body.toString()).code).toBe('malformed');

    const badProto = await post('livekit.RoomService/ListRooms', new Uint8Array([0x0a, 0xff, 0xff, 0xff]), {
      ...auth,
      'content-type': 'application/protobuf',
    });
    expect(badProto.status).toBe(400);
    expect(JSON.parse(badProto.body.toString()).code).toBe('malformed');

    const huge = await post(
      'livekit.RoomService/ListRooms',
      JSON.stringify({ names: ['x'.repeat(2 << 20)] }),
      {
        ...auth,
        'content-type': 'application/json',
      },
    );
    expect(huge.status).toBe(400);

    const noMethod = await post('livekit.RoomService/NoSuchMethod', '{}', {
      ...auth,
      'content-type': 'application/json',
    });
    expect(noMethod.status).toBe(404);
    expect(JSON.parse(noMethod.body.toString()).code).toBe('bad_route');
    // Route parts are looked up as names of methods, not as properties every object has.
    for (const route of [
      'livekit.RoomService/constructor',
      'livekit.RoomService/toString',
      'livekit.RoomService/__proto__',
      'constructor/name',
      '__proto__/hasOwnProperty',
    ]) {
      const r = await post(route, '{}', { ...auth, 'content-type': 'application/json' });
      expect([route, r.status, JSON.parse(r.body.toString()).code]).toEqual([route, 404, 'bad_route']);
    }

    const get = await fetch(`${httpUrl}/twirp/livekit.RoomService/ListRooms`, { headers: auth });
    expect(get.status).toBe(404);
    expect(((await get.json()) as { code: string }).code).toBe('bad_route');

    // Browser callers get through CORS preflight (the token still decides).
    const preflight = await fetch(`${httpUrl}/twirp/livekit.RoomService/ListRooms`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization,content-type');

    // The server is still serving after all of that.
    expect((await rooms.listRooms(['tw-proto'])).length).toBe(1);
  });
});

describe('AgentDispatchService', () => {
  test('CreateDispatch, ListDispatch and DeleteDispatch (no worker registered)', async () => {
    await join('tw-dispatch', 'alice');
    const before = await dispatch.listDispatch('tw-dispatch');
    // The room started without configured agents: it holds the automatic dispatch.
    expect(before.map((d) => d.agentName)).toEqual(['']);

    const created = await dispatch.createDispatch('tw-dispatch', 'helper', { metadata: '{"lang":"en"}' });
    expect(created.id).toMatch(/^AD_/);
    expect(created.agentName).toBe('helper');
    expect(created.room).toBe('tw-dispatch');
    expect(created.metadata).toBe('{"lang":"en"}');

    const listed = await dispatch.listDispatch('tw-dispatch');
    expect(listed.map((d) => d.agentName).sort()).toEqual(['', 'helper']);
    const got = await dispatch.getDispatch(created.id, 'tw-dispatch');
    expect(got?.id).toBe(created.id);
    // Its job waits for a worker registered as "helper".
    expect(got?.state?.jobs.length).toBe(1);
    expect(got?.state?.jobs[0]?.agentName).toBe('helper');

    await dispatch.deleteDispatch(created.id, 'tw-dispatch');
    expect((await dispatch.listDispatch('tw-dispatch')).map((d) => d.agentName)).toEqual(['']);
    expect(await dispatch.getDispatch(created.id, 'tw-dispatch')).toBeUndefined();
    await expectTwirpError(dispatch.deleteDispatch(created.id, 'tw-dispatch'), 404, 'not_found');
  });

  test('CreateDispatch into a room that does not exist yet creates it without the automatic dispatch', async () => {
    await dispatch.createDispatch('tw-dispatch-new', 'helper');
    expect((await rooms.listRooms(['tw-dispatch-new'])).length).toBe(1);
    expect((await dispatch.listDispatch('tw-dispatch-new')).map((d) => d.agentName)).toEqual(['helper']);
    // A participant joining later does not add the automatic dispatch either.
    await join('tw-dispatch-new', 'alice');
    await waitFor(async () => (await rooms.listParticipants('tw-dispatch-new')).length === 1, 'alice listed');
    expect((await dispatch.listDispatch('tw-dispatch-new')).map((d) => d.agentName)).toEqual(['helper']);
  });

  test('CreateRoom with agents uses them instead of the automatic dispatch', async () => {
    const req = new CreateRoomRequest({ name: 'tw-room-agents' });
    req.agents = [
      new (await import('@livekit/protocol')).RoomAgentDispatch({ agentName: 'a1', metadata: 'm' }),
    ];
    const r = await post('livekit.RoomService/CreateRoom', req.toBinary(), {
      'content-type': 'application/protobuf',
      authorization: `Bearer ${await token({ roomCreate: true })}`,
    });
    expect(r.status).toBe(200);
    const list = await dispatch.listDispatch('tw-room-agents');
    expect(list.map((d) => [d.agentName, d.metadata])).toEqual([['a1', 'm']]);
  });
});
