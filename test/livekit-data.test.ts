import { DataPacketKind, type Participant, type Room, RoomEvent, RpcError } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveKitDevServer } from '../emulators/livekit/index.ts';
import { connectRtc, once, startServer, waitFor } from './livekit-helpers.ts';

type DataEvent = [
  Uint8Array,
  { identity: string } | undefined,
  DataPacketKind | undefined,
  string | undefined,
];

/** Records every data packet a room receives. */
function recordData(room: Room): DataEvent[] {
  const got: DataEvent[] = [];
  room.on(RoomEvent.DataReceived, (payload, participant, kind, topic) => {
    got.push([payload, participant, kind, topic]);
  });
  return got;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('LiveKit dev server: data, streams, RPC, attributes (rtc-node)', () => {
  let server: LiveKitDevServer;
  let alice: Room;
  let bob: Room;
  let carol: Room;
  const extra: Room[] = [];

  beforeAll(async () => {
    server = await startServer();
    alice = await connectRtc(server, 'alice', 'data', { canUpdateOwnMetadata: true });
    bob = await connectRtc(server, 'bob', 'data');
    carol = await connectRtc(server, 'carol', 'data');
    await waitFor(
      () => alice.remoteParticipants.size === 2 && bob.remoteParticipants.size === 2,
      'everyone sees everyone',
    );
  }, 60_000);

  afterAll(async () => {
    for (const r of [alice, bob, carol, ...extra]) await r?.disconnect().catch(() => {});
    await server?.close();
  });

  it('delivers reliable packets with sender and topic, honouring destination identities', async () => {
    const atBob = recordData(bob);
    const atCarol = recordData(carol);
    const enc = new TextEncoder();
    await alice.localParticipant!.publishData(enc.encode('only-bob'), {
      reliable: true,
      topic: 'private',
      destination_identities: ['bob'],
    });
    await alice.localParticipant!.publishData(enc.encode('everyone'), { reliable: true, topic: 'public' });
    await waitFor(() => atBob.length >= 2 && atCarol.length >= 1, 'packets');
    expect(atBob.map(([p, who, kind, topic]) => [text(p), who?.identity, kind, topic])).toEqual([
      ['only-bob', 'alice', DataPacketKind.KIND_RELIABLE, 'private'],
      ['everyone', 'alice', DataPacketKind.KIND_RELIABLE, 'public'],
    ]);
    // Reliable delivery is ordered: carol got the broadcast sent after the private one, and only it.
    expect(atCarol.map(([p]) => text(p))).toEqual(['everyone']);
  });

  it('delivers lossy packets', async () => {
    const atBob = recordData(bob);
    await waitFor(async () => {
      await alice.localParticipant!.publishData(new Uint8Array([1, 2, 3]), {
        reliable: false,
        topic: 'lossy',
      });
      return atBob.length > 0;
    }, 'a lossy packet');
    const [payload, who, kind, topic] = atBob[0]!;
    expect([...payload]).toEqual([1, 2, 3]);
    expect([who?.identity, kind, topic]).toEqual(['alice', DataPacketKind.KIND_LOSSY, 'lossy']);
  });

  it('carries a multi-chunk text stream (lk.chat) and a byte stream', async () => {
    const long = 'Bonjour 👋 '.repeat(5000); // ~60 KB: several stream chunks
    const received = new Promise<{ text: string; from: string; attrs: Record<string, string> }>((resolve) => {
      bob.registerTextStreamHandler('lk.chat', (reader, who) => {
        reader
          .readAll()
          .then((t) => resolve({ text: t, from: who.identity, attrs: reader.info.attributes ?? {} }));
      });
    });
    await alice.localParticipant!.sendText(long, { topic: 'lk.chat', attributes: { k: 'v' } });
    const got = await received;
    expect(got.text).toBe(long);
    expect(got.from).toBe('alice');
    expect(got.attrs.k).toBe('v');

    const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) % 251);
    const receivedBytes = new Promise<Uint8Array>((resolve) => {
      carol.registerByteStreamHandler('blob', (reader) => {
        reader.readAll().then((chunks) => resolve(Buffer.concat(chunks)));
      });
    });
    const writer = await bob.localParticipant!.streamBytes({
      topic: 'blob',
      totalSize: bytes.length,
      name: 'b.bin',
    });
    for (let i = 0; i < bytes.length; i += 50_000) await writer.write(bytes.subarray(i, i + 50_000));
    await writer.close();
    expect(Buffer.compare(Buffer.from(await receivedBytes), Buffer.from(bytes))).toBe(0);
  });

  it('keeps the speaker an agent names on a transcription stream, and only for agents', async () => {
    const agent = await connectRtc(server, 'an-agent', 'data', { agent: true });
    const seen: string[] = [];
    const both = new Promise<void>((resolve) => {
      bob.registerTextStreamHandler('lk.transcription', (reader, who) => {
        void reader.readAll().then((text) => {
          seen.push(`${who.identity}:${text}`);
          if (seen.length === 2) resolve();
        });
      });
    });
    try {
      for (const [room, text] of [
        [agent, 'hi'],
        [carol, 'yo'],
      ] as const) {
        const writer = await room.localParticipant!.streamText({
          topic: 'lk.transcription',
          senderIdentity: 'alice',
        });
        await writer.write(text);
        await writer.close();
      }
      await both;
      expect(seen.sort()).toEqual(['alice:hi', 'carol:yo']);
    } finally {
      await agent.disconnect();
    }
  });

  it('round-trips RPC calls, including errors and unknown methods', async () => {
    bob.localParticipant!.registerRpcMethod('reverse', async (data) => {
      if (data.payload === 'fail') throw new RpcError(2001, 'asked to fail');
      return `${data.callerIdentity}:${[...data.payload].reverse().join('')}`;
    });
    const reply = await alice.localParticipant!.performRpc({
      destinationIdentity: 'bob',
      method: 'reverse',
      payload: 'abc',
    });
    expect(reply).toBe('alice:cba');
    await expect(
      alice.localParticipant!.performRpc({ destinationIdentity: 'bob', method: 'reverse', payload: 'fail' }),
    ).rejects.toMatchObject({ code: 2001, message: 'asked to fail' });
    await expect(
      alice.localParticipant!.performRpc({ destinationIdentity: 'bob', method: 'nope', payload: '' }),
    ).rejects.toMatchObject({ code: RpcError.ErrorCode.UNSUPPORTED_METHOD });
  });

  it('broadcasts a participant’s own metadata, name and attribute updates', async () => {
    const attrs = once<[Record<string, string>, Participant]>(
      bob as never,
      RoomEvent.ParticipantAttributesChanged,
      (changed, p) => p.identity === 'alice' && changed.mood === 'happy',
    );
    await alice.localParticipant!.setAttributes({ mood: 'happy', lk_x: '1' });
    await attrs;
    expect(bob.remoteParticipants.get('alice')?.attributes).toMatchObject({ mood: 'happy', lk_x: '1' });

    const meta = once<[string | undefined, Participant]>(
      carol as never,
      RoomEvent.ParticipantMetadataChanged,
      (m, p) => p.identity === 'alice' && m === '{"v":2}',
    );
    await alice.localParticipant!.updateMetadata('{"v":2}');
    await meta;

    const named = once<[string, Participant]>(
      bob as never,
      RoomEvent.ParticipantNameChanged,
      (n) => n === 'Alice A.',
    );
    await alice.localParticipant!.updateName('Alice A.');
    await named;

    // Deleting an attribute: an empty value removes the key everywhere.
    await alice.localParticipant!.setAttributes({ lk_x: '' });
    await waitFor(
      () => !('lk_x' in (bob.remoteParticipants.get('alice')?.attributes ?? {})),
      'attribute removed',
    );
    expect(bob.remoteParticipants.get('alice')?.attributes.mood).toBe('happy');
  });

  it('refuses self-updates without canUpdateOwnMetadata', async () => {
    const seen: string[] = [];
    alice.on(RoomEvent.ParticipantMetadataChanged, (m, p) => {
      if (p.identity === 'bob') seen.push(String(m));
    });
    // rtc-node 0.13 resolves without waiting for the server's verdict; the room is what must not change.
    await bob.localParticipant!.updateMetadata('sneaky').catch(() => {});
    // A later allowed update from someone else arrives; bob's never did.
    const marker = once<[string | undefined, Participant]>(
      alice as never,
      RoomEvent.ParticipantMetadataChanged,
      (m, p) => p.identity === 'alice' && m === 'marker',
    );
    await alice.localParticipant!.updateMetadata('marker');
    await marker;
    expect(seen).toEqual([]);
    expect(carol.remoteParticipants.get('bob')?.metadata ?? '').toBe('');
  });

  it('drops data from a participant without canPublishData', async () => {
    const mute = await connectRtc(server, 'mute', 'data', { canPublishData: false });
    extra.push(mute);
    await waitFor(() => bob.remoteParticipants.has('mute'), 'mute joined');
    const atBob = recordData(bob);
    await mute
      .localParticipant!.publishData(new TextEncoder().encode('blocked'), { reliable: true })
      .catch(() => {});
    await alice.localParticipant!.publishData(new TextEncoder().encode('marker'), { reliable: true });
    await waitFor(() => atBob.some(([p]) => text(p) === 'marker'), 'marker');
    expect(atBob.map(([p]) => text(p))).not.toContain('blocked');
  });
});
