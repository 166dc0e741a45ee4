import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  LocalVideoTrack,
  type RemoteTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  VideoBufferType,
  VideoCodec,
  VideoFrame,
  VideoSource,
  VideoStream,
} from '@livekit/rtc-node';
import { AccessToken, type VideoGrant } from 'livekit-server-sdk';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { defaultConfigPath } from '../shared/livekit-config.ts';
import { waitFor } from './fixtures/wait.ts';

export { waitFor };

/** A copy of the repository's `livekit.yaml` changed by `edit`, in a temporary directory. */
export function tempLiveKitConfig(edit: (yaml: string) => string): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lk-config-'));
  const path = join(dir, 'livekit.yaml');
  writeFileSync(path, edit(`${readFileSync(defaultConfigPath, 'utf8')}\n`));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A dev server on a free port with the repository's livekit.yaml keys. */
export function startServer(o: { reconnectGrace?: number } = {}): Promise<LiveKitDevServer> {
  return startLiveKitDevServer({ port: 0, host: '127.0.0.1', ...o });
}

export async function mintToken(
  server: Pick<LiveKitDevServer, 'apiKey' | 'apiSecret'>,
  identity: string,
  grant: VideoGrant,
  extra: {
    ttl?: number | string;
    name?: string;
    metadata?: string;
    attributes?: Record<string, string>;
  } = {},
): Promise<string> {
  const at = new AccessToken(server.apiKey, server.apiSecret, {
    identity,
    ttl: extra.ttl ?? '10m',
    name: extra.name,
    metadata: extra.metadata,
    attributes: extra.attributes,
  });
  at.addGrant({ roomJoin: true, ...grant });
  return at.toJwt();
}

/** Waits for an event on an emitter (first match). */
export function once<A extends unknown[]>(
  emitter: { on(e: string, l: (...a: A) => void): unknown; off(e: string, l: (...a: A) => void): unknown },
  event: string,
  filter: (...a: A) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
    const listener = (...a: A) => {
      if (!filter(...a)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(a);
    };
    emitter.on(event, listener);
  });
}

export async function connectRtc(
  server: LiveKitDevServer,
  identity: string,
  room: string,
  grant: VideoGrant = {},
  extra: Parameters<typeof mintToken>[3] = {},
): Promise<Room> {
  const r = new Room();
  await r.connect(server.url, await mintToken(server, identity, { room, ...grant }, extra), {
    autoSubscribe: true,
    dynacast: false,
  });
  return r;
}

/**
 * Publishes a sine tone as the microphone track; returns a stop function. With `pulse`, the tone comes
 * in bursts of `onMs` with `offMs` of silence between (a voice that keeps "answering").
 */
export async function publishTone(
  room: Room,
  frequency: number,
  name = 'tone',
  pulse?: { onMs: number; offMs: number },
): Promise<() => void> {
  const rate = 48000;
  const source = new AudioSource(rate, 1);
  const track = LocalAudioTrack.createAudioTrack(name, source);
  await room.localParticipant!.publishTrack(
    track,
    new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
  );
  let phase = 0;
  let running = true;
  const samples = rate / 100;
  let frames = 0;
  (async () => {
    while (running) {
      const data = new Int16Array(samples);
      const on = !pulse || (frames++ * 10) % (pulse.onMs + pulse.offMs) < pulse.onMs;
      for (let i = 0; on && i < samples; i++) {
        data[i] = Math.round(Math.sin(phase) * 12000);
        phase += (2 * Math.PI * frequency) / rate;
      }
      await source.captureFrame(new AudioFrame(data, rate, 1, samples));
    }
  })().catch(() => {});
  return () => {
    running = false;
    source.close().catch(() => {});
  };
}

/** Peak at which a frame carries the tone; silence and packet-loss concealment stay under it. */
const LOUD_PEAK = 2000;

function isLoud(samples: Int16Array): boolean {
  for (const v of samples) if (v >= LOUD_PEAK || v <= -LOUD_PEAK) return true;
  return false;
}

/** The reader's next chunk, or undefined once `deadline` (epoch ms) has passed without one. */
async function readBefore<T>(
  reader: ReadableStreamDefaultReader<T>,
  deadline: number,
): Promise<ReadableStreamReadResult<T> | undefined> {
  const left = deadline - Date.now();
  if (left <= 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), left);
  });
  try {
    return await Promise.race([reader.read(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Listens to a remote audio track until it has heard `seconds` of tone, and returns the tone's frequency
 * and the share of frames that carried the tone after it started.
 *
 * The frequency comes from the median interval between zero crossings within runs of consecutive loud
 * 10 ms frames, crossings placed between samples by linear interpolation and followed across frame
 * boundaries. Gaps of silence end a run; concealment a loaded receiver plays for late packets
 * (noise-like, fading) gives atypical intervals the median ignores. Counting crossings inside each
 * frame over whole frames did not hold: it misses the crossing at every frame boundary that falls in
 * one, which for a tone with a whole number of half-periods per frame (350 Hz: 7) is every frame or
 * none depending on the tone's phase against the frame grid, so 350 Hz read as 300 whenever the
 * receiver's jitter buffer stretched or shortened audio into that phase.
 */
export async function analyseTone(
  track: RemoteTrack,
  seconds = 1,
): Promise<{ frequency: number; loudFraction: number }> {
  const rate = 48000;
  const stream = new AudioStream(track, rate, 1);
  const reader = stream.getReader();
  const intervals: number[] = [];
  let loudSamples = 0;
  let frames = 0;
  let loudFrames = 0;
  // Within the current run of loud frames: the previous sample and the last crossing, in samples
  // from the run's start.
  let run: { prev: number; at: number; crossedAt?: number } | undefined;
  while (loudSamples < rate * seconds) {
    const { value: frame, done } = await reader.read();
    if (done) break;
    const data = frame.data;
    if (!isLoud(data)) {
      if (loudFrames > 0) frames++;
      run = undefined;
      continue;
    }
    frames++;
    loudFrames++;
    loudSamples += data.length;
    run ??= { prev: data[0]!, at: 0 };
    for (const v of data) {
      if (run.prev < 0 !== v < 0) {
        const crossedAt = run.at - 1 + run.prev / (run.prev - v);
        if (run.crossedAt !== undefined) intervals.push(crossedAt - run.crossedAt);
        run.crossedAt = crossedAt;
      }
      run.prev = v;
      run.at++;
    }
  }
  await reader.cancel().catch(() => {});
  intervals.sort((a, b) => a - b);
  const halfPeriod = intervals[Math.floor(intervals.length / 2)];
  return {
    frequency: halfPeriod ? rate / 2 / halfPeriod : 0,
    loudFraction: loudFrames / Math.max(1, frames),
  };
}

/** Loud 10 ms frames (a tone, not silence or concealment) a remote audio track delivers within `ms`. */
export async function loudFrames(track: RemoteTrack | undefined, ms = 500): Promise<number> {
  if (!track) return 0;
  const reader = new AudioStream(track, 48000, 1).getReader();
  const deadline = Date.now() + ms;
  let loud = 0;
  try {
    for (;;) {
      const next = await readBefore(reader, deadline);
      if (!next || next.done) break;
      if (isLoud(next.value.data)) loud++;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return loud;
}

/** The dominant frequency of the tone a remote audio track carries (see {@link analyseTone}). */
export async function measureFrequency(track: RemoteTrack, seconds = 1): Promise<number> {
  return (await analyseTone(track, seconds)).frequency;
}

/** Waits for `fromIdentity`'s audio at `room` and measures the tone it carries (see {@link analyseTone}). */
export async function heardFrequency(room: Room, fromIdentity: string, seconds = 1): Promise<number> {
  return measureFrequency(await waitForRemoteAudio(room, fromIdentity), seconds);
}

export async function waitForRemoteAudio(room: Room, fromIdentity: string): Promise<RemoteTrack> {
  const existing = room.remoteParticipants.get(fromIdentity);
  for (const pub of existing?.trackPublications.values() ?? []) {
    if (pub.track && pub.kind === TrackKind.KIND_AUDIO) return pub.track as RemoteTrack;
  }
  // A participant that also publishes video may have that track subscribed first: wait for its audio.
  const [track] = await once<[RemoteTrack, unknown, { identity: string }]>(
    room as never,
    RoomEvent.TrackSubscribed,
    (t, _p, participant) => participant.identity === fromIdentity && t.kind === TrackKind.KIND_AUDIO,
  );
  return track;
}

/** Publishes a moving RGBA test pattern as the camera track; returns a stop function. */
export async function publishVideo(
  room: Room,
  o: { width?: number; height?: number; simulcast?: boolean } = {},
): Promise<() => void> {
  const width = o.width ?? 320;
  const height = o.height ?? 240;
  const source = new VideoSource(width, height);
  const track = LocalVideoTrack.createVideoTrack('pattern', source);
  await room.localParticipant!.publishTrack(
    track,
    new TrackPublishOptions({
      source: TrackSource.SOURCE_CAMERA,
      videoCodec: VideoCodec.VP8,
      simulcast: o.simulcast ?? false,
    }),
  );
  let n = 0;
  const timer = setInterval(() => {
    const data = new Uint8Array(width * height * 4);
    for (let i = 0; i < data.length; i += 4) {
      data[i] = (n * 5 + i / 4) % 256;
      data[i + 1] = (n * 3) % 256;
      data[i + 2] = 128;
      data[i + 3] = 255;
    }
    n++;
    source.captureFrame(new VideoFrame(data, width, height, VideoBufferType.RGBA));
  }, 50);
  return () => {
    clearInterval(timer);
    source.close().catch(() => {});
  };
}

/** Waits for `count` decoded frames of `fromIdentity`'s video; returns the last frame's size. */
export async function receiveVideoFrames(
  room: Room,
  fromIdentity: string,
  count = 10,
  timeoutMs = 20_000,
): Promise<{ width: number; height: number; frames: number }> {
  const track = await waitFor(() => {
    for (const pub of room.remoteParticipants.get(fromIdentity)?.trackPublications.values() ?? []) {
      if (pub.kind === TrackKind.KIND_VIDEO && pub.track) return pub.track;
    }
    return undefined;
  }, `${fromIdentity}'s video track`);
  const stream = new VideoStream(track);
  const reader = stream.getReader();
  let frames = 0;
  let last = { width: 0, height: 0 };
  // A picture that never decodes (no keyframe) must fail here, with a reason, not at the test's timeout.
  const deadline = Date.now() + timeoutMs;
  try {
    while (frames < count) {
      const next = await readBefore(reader, deadline);
      if (!next)
        throw new Error(`timed out waiting for ${count} video frames from ${fromIdentity} (got ${frames})`);
      if (next.done) break;
      frames++;
      last = { width: next.value.frame.width, height: next.value.frame.height };
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { ...last, frames };
}
