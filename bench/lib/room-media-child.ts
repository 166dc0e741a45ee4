/**
 * The media half of an agent, without the model: joins each room named on the command line as
 * `agent`, reads the user's audio the way our bridge does (AudioStream, 16 kHz mono, 20 ms frames,
 * base64 of each frame) and speaks into an AudioSource (24 kHz, 100 ms queue) in 1 s bursts with 1 s
 * pauses. `bench/process-per-room.ts` runs one of these per room, or one for all rooms, to price a
 * process per room. Prints `ready` once every room is joined and publishing.
 *
 *   node bench/lib/room-media-child.ts <url> <apiKey> <apiSecret> <room,room,...>
 */
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  type RemoteTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { chunk, speechLike } from '../../shared/audio/generate.ts';

const [url, apiKey, apiSecret, roomList] = process.argv.slice(2);
if (!url || !apiKey || !apiSecret || !roomList) {
  console.error('usage: room-media-child.ts <url> <apiKey> <apiSecret> <room,room,...>');
  process.exit(2);
}

const RATE = 24_000;
const burst = chunk(speechLike(1, RATE, { seed: 7 }), RATE, 20);

async function read(track: RemoteTrack): Promise<void> {
  const stream = new AudioStream(track, { sampleRate: 16_000, numChannels: 1, frameSizeMs: 20 });
  const reader = stream.getReader();
  for (;;) {
    const { value: frame, done } = await reader.read();
    if (done) return;
    // What the bridge does with each frame before the Live socket: base64 of the samples.
    Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength).toString('base64');
  }
}

async function speak(source: AudioSource): Promise<void> {
  for (;;) {
    for (const f of burst) await source.captureFrame(new AudioFrame(f.slice(), RATE, 1, f.length));
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function join(name: string): Promise<void> {
  const token = new AccessToken(apiKey!, apiSecret!, { identity: 'agent', ttl: '1h' });
  token.addGrant({ roomJoin: true, room: name });
  const room = new Room();
  room.on(RoomEvent.TrackSubscribed, (track) => {
    if (track.kind === TrackKind.KIND_AUDIO) read(track).catch(() => {});
  });
  await room.connect(url!, await token.toJwt(), { autoSubscribe: true, dynacast: false });
  const source = new AudioSource(RATE, 1, 100);
  await room.localParticipant!.publishTrack(
    LocalAudioTrack.createAudioTrack('agent_audio', source),
    new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
  );
  speak(source).catch(() => {});
}

// Joined one after the other: the FFI dislikes many rooms connecting in the same instant.
for (const name of roomList.split(',')) await join(name);
console.log('ready');
