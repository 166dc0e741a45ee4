import { type Participant, type Room, RoomEvent } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveKitDevServer } from '../emulators/livekit/index.ts';
import { connectParticipant } from './livekit-control-helpers.ts';
import {
  connectRtc,
  heardFrequency,
  measureFrequency,
  once,
  publishTone,
  publishVideo,
  receiveVideoFrames,
  startServer,
  waitFor,
  waitForRemoteAudio,
} from './livekit-helpers.ts';

describe('LiveKit dev server: rtc-node audio', () => {
  let server: LiveKitDevServer;
  const rooms: Room[] = [];
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    for (const s of stops) s();
    for (const r of rooms) await r.disconnect().catch(() => {});
    await server?.close();
  });

  it('two participants see each other and hear each other’s tone', async () => {
    const alice = await connectRtc(server, 'alice', 'tones');
    rooms.push(alice);
    const bobJoined = once(alice as never, RoomEvent.ParticipantConnected);
    const bob = await connectRtc(server, 'bob', 'tones');
    rooms.push(bob);
    await bobJoined;
    expect(bob.remoteParticipants.has('alice')).toBe(true);

    stops.push(await publishTone(alice, 440));
    stops.push(await publishTone(bob, 1000));
    const [heardByBob, heardByAlice] = await Promise.all([
      heardFrequency(bob, 'alice'),
      heardFrequency(alice, 'bob'),
    ]);
    expect(heardByBob).toBeGreaterThan(420);
    expect(heardByBob).toBeLessThan(460);
    expect(heardByAlice).toBeGreaterThan(960);
    expect(heardByAlice).toBeLessThan(1040);
  }, 90_000);

  it('tells the publisher when its track gets a subscriber (localTrackSubscribed)', async () => {
    // The listener is connected first, so the track is added to a transport that is already up.
    const listener = await connectRtc(server, 'listener', 'subscribed');
    rooms.push(listener);
    const speaker = await connectRtc(server, 'speaker', 'subscribed');
    rooms.push(speaker);
    const subscribed = once(speaker as never, RoomEvent.LocalTrackSubscribed);
    stops.push(await publishTone(speaker, 600));
    await waitForRemoteAudio(listener, 'speaker');
    const [track] = (await subscribed) as unknown as [{ sid?: string }];
    const published = [...speaker.localParticipant!.trackPublications.values()][0];
    expect(track.sid).toBe(published?.sid);
  }, 90_000);

  it('forwards VP8 video, to a participant present and to a late joiner', async () => {
    const cam = await connectRtc(server, 'cam', 'video');
    rooms.push(cam);
    const early = await connectRtc(server, 'early', 'video');
    rooms.push(early);
    stops.push(await publishVideo(cam, { width: 320, height: 240 }));
    const seen = await receiveVideoFrames(early, 'cam', 15);
    expect(seen).toEqual({ width: 320, height: 240, frames: 15 });
    // A late joiner needs a keyframe it never saw: the server relays its PLI to the publisher.
    const late = await connectRtc(server, 'late', 'video');
    rooms.push(late);
    expect(await receiveVideoFrames(late, 'cam', 15)).toEqual({ width: 320, height: 240, frames: 15 });
  }, 90_000);

  it('forwards one layer of a simulcast publication', async () => {
    const cam = await connectRtc(server, 'sim', 'simulcast');
    rooms.push(cam);
    const viewer = await connectRtc(server, 'viewer', 'simulcast');
    rooms.push(viewer);
    stops.push(await publishVideo(cam, { width: 640, height: 480, simulcast: true }));
    const seen = await receiveVideoFrames(viewer, 'sim', 15);
    expect(seen.frames).toBe(15);
    // rtc-node sends two layers here, rid q (low) and h (full size); h is the preferred one.
    await waitFor(async () => (await receiveVideoFrames(viewer, 'sim', 5)).width === 640, 'the h layer');
    // A late joiner's picture needs a keyframe of the forwarded layer: the server must ask that
    // layer's encoder for one (simulcast layers are bound by rid, their SSRCs learnt from packets).
    const late = await connectRtc(server, 'late', 'simulcast');
    rooms.push(late);
    expect(await receiveVideoFrames(late, 'sim', 15)).toEqual({ width: 640, height: 480, frames: 15 });
  }, 90_000);

  it('reports active speakers from the publishers’ audio levels', async () => {
    const talker = await connectRtc(server, 'talker', 'speakers');
    rooms.push(talker);
    const listener = await connectRtc(server, 'listener', 'speakers');
    rooms.push(listener);
    let current: string[] = [];
    listener.on(RoomEvent.ActiveSpeakersChanged, (speakers: Participant[]) => {
      current = speakers.map((p) => p.identity);
    });
    const stop = await publishTone(talker, 300);
    stops.push(stop);
    await waitFor(() => current.includes('talker'), 'talker reported speaking');
    stop();
    await waitFor(() => !current.includes('talker'), 'talker reported quiet');
  }, 60_000);

  it('subscribes on request when auto-subscribe is off, and unsubscribes', async () => {
    const speaker = await connectRtc(server, 'speaker', 'manual');
    rooms.push(speaker);
    // Joins with auto-subscribe off: nothing arrives until asked for.
    const picky = await connectParticipant(server, 'manual', 'picky');
    rooms.push(picky);
    stops.push(await publishTone(speaker, 350));
    const pub = await waitFor(
      () => [...(picky.remoteParticipants.get('speaker')?.trackPublications.values() ?? [])][0],
      'publication listed',
    );
    const subscribed = once(picky as never, RoomEvent.TrackSubscribed);
    pub.setSubscribed(true);
    const [track] = (await subscribed) as [Parameters<typeof measureFrequency>[0]];
    const freq = await measureFrequency(track, 0.3);
    expect(freq).toBeGreaterThan(330);
    expect(freq).toBeLessThan(370);
    const unsubscribed = once(picky as never, RoomEvent.TrackUnsubscribed);
    pub.setSubscribed(false);
    await unsubscribed;
  }, 60_000);

  it('switching from one track to another in one go delivers the new one', async () => {
    // The ended subscription's m-line goes inactive; were it handed straight to the next track, the
    // client would see one m-line change its msid without a direction change and fire no ontrack.
    const speaker = await connectRtc(server, 'speaker', 'switch');
    rooms.push(speaker);
    // Joins with auto-subscribe off: nothing arrives until asked for.
    const picky = await connectParticipant(server, 'switch', 'picky');
    rooms.push(picky);
    stops.push(await publishTone(speaker, 350, 'low'));
    stops.push(await publishTone(speaker, 650, 'high'));
    const byName = (name: string) =>
      [...(picky.remoteParticipants.get('speaker')?.trackPublications.values() ?? [])].find(
        (p) => p.name === name,
      );
    const [low, high] = await waitFor(() => {
      const pair = [byName('low'), byName('high')];
      return pair.every(Boolean) && (pair as NonNullable<ReturnType<typeof byName>>[]);
    }, 'both publications listed');
    const first = once(picky as never, RoomEvent.TrackSubscribed);
    low!.setSubscribed(true);
    await first;
    const second = once<[Parameters<typeof measureFrequency>[0], { name?: string }]>(
      picky as never,
      RoomEvent.TrackSubscribed,
      (_t, pub) => pub.name === 'high',
    );
    low!.setSubscribed(false);
    high!.setSubscribed(true);
    const [track] = await second;
    const freq = await measureFrequency(track, 0.3);
    expect(freq).toBeGreaterThan(620);
    expect(freq).toBeLessThan(680);
  }, 60_000);
});
