/**
 * A simulated human in a room: a real `@livekit/rtc-node` participant that publishes a microphone
 * track fed from a script (speech-like utterances and silence, 10 ms frames pushed on the wall clock)
 * and listens to every remote audio track, timestamping when voice starts and stops arriving.
 *
 * Time stamps (epoch ms, `now()`):
 * - `say()` resolves with when the first voiced frame and the frame after the last voiced one were
 *   handed to the audio source;
 * - remote audio: `onsets`/`offsets` are the arrival of the first voiced 10 ms frame and of the
 *   frame after the last voiced one (voiced = RMS above −40 dBFS, a reply ends after 150 ms silence).
 */

import { RoomAgentDispatch, RoomConfiguration } from '@livekit/protocol';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  DisconnectReason,
  LocalAudioTrack,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { speechLike } from '../../shared/audio/generate.ts';
import { Waiters } from '../../shared/waiters.ts';
import type { LiveKitEndpoint } from './children.ts';
import { FrameLateness } from './lateness.ts';
import { now } from './stats.ts';
import { VOICE_RMS } from './voice.ts';

export const RATE = 48_000;
const FRAME = RATE / 100;
/** Silence that ends a remote "reply". */
const REPLY_END_MS = 150;

export interface Utterance {
  /** First voiced frame handed to the source. */
  startAt: number;
  /** Frame after the last voiced frame handed to the source. */
  endAt: number;
  durationMs: number;
}

export interface RemoteBurst {
  participant: string;
  /** Arrival of the first voiced frame. */
  onsetAt: number;
  /** Arrival of the first frame of the silence that ended it (undefined while it lasts). */
  offsetAt?: number;
  /** Arrival of the last voiced frame so far (the end of a burst whose track went silent for good). */
  lastVoicedAt: number;
  voicedMs: number;
  /** Silent stretches ≥ 20 ms inside the burst: underruns (the synthetic voice never dips that low). */
  gaps: number;
}

/** Drives every user's audio from one 10 ms ticker (one timer for all rooms). */
class Pump {
  #users = new Set<BenchUser>();
  #timer: NodeJS.Timeout | undefined;

  add(u: BenchUser): void {
    this.#users.add(u);
    this.#timer ??= setInterval(() => this.#tick(), 5);
  }

  remove(u: BenchUser): void {
    this.#users.delete(u);
    if (this.#users.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const t = performance.now();
    for (const u of this.#users) u._pump(t);
  }
}
const pump = new Pump();

interface Segment {
  samples: Int16Array;
  at: number;
  voiced: boolean;
  resolve?: (u: Utterance) => void;
  startAt?: number;
}

export interface BenchUserOptions {
  livekit: LiveKitEndpoint;
  room: string;
  identity: string;
  /** Agent to dispatch into the room through the join token (`roomConfig.agents`). */
  agentName?: string;
  /**
   * A listener only: publishes nothing and subscribes to this identity's audio alone (a transport
   * probe beside the agent, in the same room and at the same moment).
   */
  listenTo?: string;
}

export class BenchUser {
  readonly room = new Room();
  readonly identity: string;
  /** Name of the room joined. */
  readonly roomName: string;
  readonly bursts: RemoteBurst[] = [];
  /**
   * How late each 10 ms frame was captured against its due time on the wall clock (the generator's own
   * lateness, not the agent's); frames skipped after a stall count as dropped.
   */
  readonly lateness = new FrameLateness();
  /** Remote audio frames received and the loudest frame's RMS (diagnostics). */
  remoteFrames = 0;
  remoteMaxRms = 0;
  /** Seconds of voiced audio published. */
  voicedSeconds = 0;
  /** Why the server ended this user's connection (e.g. `DUPLICATE_IDENTITY`), if it did. */
  disconnectedBy: string | undefined;
  #o: BenchUserOptions;
  #source = new AudioSource(RATE, 1, 60);
  #queue: Segment[] = [];
  #nextDue = 0;
  #streams: AudioStream[] = [];
  #closed = false;
  readonly #waiters = new Waiters();

  constructor(o: BenchUserOptions) {
    this.#o = o;
    this.identity = o.identity;
    this.roomName = o.room;
  }

  static async token(o: BenchUserOptions): Promise<string> {
    const at = new AccessToken(o.livekit.apiKey, o.livekit.apiSecret, { identity: o.identity, ttl: '2h' });
    at.addGrant({ roomJoin: true, room: o.room, canPublish: true, canSubscribe: true });
    if (o.agentName) {
      at.roomConfig = new RoomConfiguration({
        agents: [new RoomAgentDispatch({ agentName: o.agentName, metadata: '' })],
      });
    }
    return at.toJwt();
  }

  async connect(): Promise<void> {
    this.room.on(RoomEvent.Disconnected, (reason: DisconnectReason) => {
      if (!this.#closed) this.disconnectedBy = DisconnectReason[reason] ?? String(reason);
    });
    this.room.on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _pub, participant: RemoteParticipant) => {
      if (track.kind === TrackKind.KIND_AUDIO) this.#listen(track, participant.identity);
    });
    const listenTo = this.#o.listenTo;
    if (listenTo !== undefined) {
      const pick = (pub: RemoteTrackPublication, p: RemoteParticipant) => {
        if (p.identity === listenTo && pub.kind === TrackKind.KIND_AUDIO) pub.setSubscribed(true);
      };
      this.room.on(RoomEvent.TrackPublished, pick);
      this.room.on(RoomEvent.ParticipantConnected, (p: RemoteParticipant) => {
        for (const pub of p.trackPublications.values()) pick(pub, p);
      });
    }
    await this.room.connect(this.#o.livekit.url, await BenchUser.token(this.#o), {
      autoSubscribe: listenTo === undefined,
      dynacast: false,
    });
    if (listenTo !== undefined) {
      for (const p of this.room.remoteParticipants.values())
        for (const pub of p.trackPublications.values())
          if (p.identity === listenTo && pub.kind === TrackKind.KIND_AUDIO) pub.setSubscribed(true);
      return;
    }
    const track = LocalAudioTrack.createAudioTrack('mic', this.#source);
    await this.room.localParticipant!.publishTrack(
      track,
      new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
    );
    this.#nextDue = performance.now();
    pump.add(this);
  }

  /** A remote participant (the agent) is in the room with a subscribed audio track. */
  hasRemoteAudio(): boolean {
    return this.#streams.length > 0;
  }

  /**
   * Queues `seconds` of speech (after whatever is queued) and resolves with its timing once its last
   * frame was handed to the source.
   */
  say(seconds: number, seed = 1): Promise<Utterance> {
    const samples = speechLike(Math.round(seconds * 100) / 100, RATE, { seed, amplitude: 0.4 });
    return new Promise((resolve) => {
      this.#queue.push({ samples, at: 0, voiced: true, resolve });
      this.voicedSeconds += samples.length / RATE;
    });
  }

  /** Queues silence (the pump sends silence anyway when nothing is queued). */
  pause(seconds: number): Promise<void> {
    const samples = new Int16Array(Math.round(seconds * 100) * FRAME);
    return new Promise((resolve) => {
      this.#queue.push({ samples, at: 0, voiced: false, resolve: () => resolve() });
    });
  }

  /** @internal called by the pump every few ms. */
  _pump(t: number): void {
    if (this.#closed) return;
    if (t - this.#nextDue > 200) {
      // Fell far behind (machine stalled): skip ahead rather than burst.
      this.lateness.drop(Math.floor((t - this.#nextDue) / 10));
      this.#nextDue = t;
    }
    while (this.#nextDue <= t) {
      // At the capture itself: the users after this one in the tick see the time this one took.
      this.lateness.record(performance.now() - this.#nextDue);
      this.#nextDue += 10;
      this.#pushFrame();
    }
  }

  #pushFrame(): void {
    const seg = this.#queue[0];
    let data: Int16Array;
    const at = now();
    if (!seg) {
      data = new Int16Array(FRAME);
    } else {
      if (seg.voiced && seg.startAt === undefined) seg.startAt = at;
      data = new Int16Array(FRAME);
      data.set(seg.samples.subarray(seg.at, seg.at + FRAME));
      seg.at += FRAME;
      if (seg.at >= seg.samples.length) {
        this.#queue.shift();
        // The segment's end is the moment the next frame is due, i.e. 10 ms after this push.
        const endAt = at + 10;
        const startAt = seg.startAt ?? at;
        setImmediate(() => seg.resolve?.({ startAt, endAt, durationMs: (seg.samples.length / RATE) * 1000 }));
      }
    }
    this.#source.captureFrame(new AudioFrame(data, RATE, 1, FRAME)).catch(() => {});
  }

  #listen(track: RemoteTrack, participant: string): void {
    const stream = new AudioStream(track, { sampleRate: RATE, numChannels: 1, frameSizeMs: 10 });
    this.#streams.push(stream);
    const reader = stream.getReader();
    let burst: RemoteBurst | undefined;
    let silentMs = 0;
    let silentFrom = 0;
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done || this.#closed) break;
          const t = now();
          const d = value.data;
          let sum = 0;
          for (let i = 0; i < d.length; i++) sum += d[i]! * d[i]!;
          const level = d.length > 0 ? Math.sqrt(sum / d.length) : 0;
          const voiced = level > VOICE_RMS;
          this.remoteFrames++;
          if (level > this.remoteMaxRms) this.remoteMaxRms = level;
          const ms = (value.samplesPerChannel / value.sampleRate) * 1000;
          if (voiced) {
            if (!burst) {
              burst = { participant, onsetAt: t, lastVoicedAt: t, voicedMs: 0, gaps: 0 };
              this.bursts.push(burst);
            } else if (silentMs >= 20) {
              burst.gaps++;
            }
            burst.voicedMs += ms;
            burst.lastVoicedAt = t;
            silentMs = 0;
          } else if (burst) {
            if (silentMs === 0) silentFrom = t;
            silentMs += ms;
            if (silentMs >= REPLY_END_MS) {
              burst.offsetAt = silentFrom;
              burst = undefined;
              silentMs = 0;
            }
          }
          this.#waiters.notify();
        }
      } catch {
        // stream torn down
      }
    })();
  }

  /**
   * Resolves with the first remote burst that begins after `after` (or rejects after `timeoutMs`),
   * of a participant other than `not` when given (a dead agent's audio still in transit is no answer).
   */
  nextOnset(after: number, timeoutMs: number, not?: string): Promise<RemoteBurst> {
    return this.#until(
      () => this.bursts.find((b) => b.onsetAt > after && b.participant !== not),
      timeoutMs,
      'agent audio',
    );
  }

  /** Resolves when `burst` has ended (150 ms of silence). */
  ended(burst: RemoteBurst, timeoutMs: number): Promise<RemoteBurst> {
    return this.#until(
      () => (burst.offsetAt !== undefined ? burst : undefined),
      timeoutMs,
      'end of agent audio',
    );
  }

  #until<T>(f: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return this.#waiters.until(f, { what: `${what} (${this.identity})`, timeoutMs, pollMs: 20 });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    pump.remove(this);
    for (const s of this.#streams) await s.cancel().catch(() => {});
    await this.room.disconnect().catch(() => {});
    await this.#source.close().catch(() => {});
  }
}
