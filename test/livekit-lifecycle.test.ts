import { ParticipantPermission, SignalResponse } from '@livekit/protocol';
import { DisconnectReason, type RemoteTrackPublication, type Room, RoomEvent } from '@livekit/rtc-node';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import {
  connectRtc,
  heardFrequency,
  mintToken,
  once,
  publishTone,
  waitFor,
  waitForRemoteAudio,
} from './livekit-helpers.ts';

describe('LiveKit dev server: server-side lifecycle', () => {
  let server: LiveKitDevServer;
  const rooms: Room[] = [];
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startLiveKitDevServer({ port: 0, host: '127.0.0.1', tokenRefreshInterval: 0.5 });
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) s();
    for (const r of rooms.splice(0)) await r.disconnect().catch(() => {});
  });
  afterAll(async () => {
    await server?.close();
  });

  async function join(identity: string, room: string, grant = {}) {
    const r = await connectRtc(server, identity, room, grant);
    rooms.push(r);
    return r;
  }

  it('sends refreshed tokens with the same identity and room, without roomConfig', async () => {
    const token = await mintToken(server, 'refresh-me', { room: 'refresh' }, { ttl: 60 });
    const ws = new WebSocket(`${server.url}/rtc?protocol=16`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    try {
      const refreshed = await new Promise<string>((resolve, reject) => {
        ws.on('message', (data) => {
          const msg = SignalResponse.fromBinary(data as Buffer);
          if (msg.message.case === 'refreshToken') resolve(msg.message.value);
        });
        ws.once('error', reject);
      });
      const claims = decodeJwt(refreshed) as {
        sub?: string;
        iss?: string;
        exp?: number;
        video?: { room?: string };
      };
      expect(claims.sub).toBe('refresh-me');
      expect(claims.iss).toBe(server.apiKey);
      expect(claims.video?.room).toBe('refresh');
      expect(claims.exp! - Date.now() / 1000).toBeGreaterThan(60);
      expect(claims).not.toHaveProperty('roomConfig');
      // …and the server accepts it.
      const ok = await fetch(`${server.url.replace('ws', 'http')}/rtc/validate?access_token=${refreshed}`);
      expect(ok.status).toBe(200);
    } finally {
      ws.terminate();
    }
  });

  it('tells the others when a track is unpublished', async () => {
    const a = await join('a', 'unpublish');
    const b = await join('b', 'unpublish');
    stops.push(await publishTone(a, 300));
    await heardFrequency(b, 'a', 0.2); // media flows before it is withdrawn
    const sid = [...a.localParticipant!.trackPublications.keys()][0]!;
    const gone = once<[RemoteTrackPublication]>(b as never, RoomEvent.TrackUnpublished);
    await a.localParticipant!.unpublishTrack(sid);
    expect((await gone)[0].sid).toBe(sid);
    await waitFor(
      () => server.directory.getParticipant('unpublish', 'a')?.tracks.length === 0,
      'server forgot the track',
    );
  });

  it('applies permission changes from the server: revoking canPublish unpublishes, canSubscribe stops media', async () => {
    const a = await join('a', 'perm');
    const b = await join('b', 'perm');
    stops.push(await publishTone(a, 300));
    await waitForRemoteAudio(b, 'a');
    const unpublished = once(b as never, RoomEvent.TrackUnpublished);
    server.directory.updateParticipant('perm', 'a', {
      permission: new ParticipantPermission({ canPublish: false, canSubscribe: true, canPublishData: true }),
    });
    await unpublished;
    expect(server.directory.getParticipant('perm', 'a')?.permission?.canPublish).toBe(false);
  });

  it('refuses oversized self-updates, at the same 64,000 bytes as the server API and livekit-server', async () => {
    const a = await join('a', 'limits', { canUpdateOwnMetadata: true });
    await a.localParticipant!.updateMetadata('x'.repeat(64_001)).catch(() => {});
    await a.localParticipant!.setAttributes({ ok: 'yes' });
    await waitFor(
      () => server.directory.getParticipant('limits', 'a')?.attributes.ok === 'yes',
      'later update',
    );
    expect(server.directory.getParticipant('limits', 'a')?.metadata).toBe('');
    expect(() => server.directory.updateParticipant('limits', 'a', { metadata: 'y'.repeat(64_001) })).toThrow(
      /metadata/,
    );
    await a.localParticipant!.updateMetadata('x'.repeat(64_000));
    await waitFor(
      () => server.directory.getParticipant('limits', 'a')?.metadata.length === 64_000,
      'metadata at the limit',
    );
  });

  it('disconnects participants removed by the server or whose room is deleted', async () => {
    const a = await join('a', 'kick');
    const b = await join('b', 'kick');
    const kicked = once<[DisconnectReason]>(a as never, RoomEvent.Disconnected);
    const seen = once(b as never, RoomEvent.ParticipantDisconnected);
    expect(server.directory.removeParticipant('kick', 'a')).toBe(true);
    expect((await kicked)[0]).toBe(DisconnectReason.PARTICIPANT_REMOVED);
    await seen;
    const closed = once<[DisconnectReason]>(b as never, RoomEvent.Disconnected);
    expect(server.directory.deleteRoom('kick')).toBe(true);
    expect((await closed)[0]).toBe(DisconnectReason.ROOM_DELETED);
    expect(server.directory.getRoom('kick')).toBeUndefined();
  });
});
