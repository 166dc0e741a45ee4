import type { ByteStreamReader, RemoteTrackPublication, Room } from '@livekit/rtc-node';
import { TrackKind, TrackSource } from '@livekit/rtc-node';
import { frameMs, type PcmFrame } from '../audio/frame.ts';
import { decodePreConnectAudio, type PreConnectFormat, preConnectEncoding } from '../audio/pre-connect.ts';
import type { Logger } from '../log.ts';

/** Byte-stream topic of LiveKit clients' pre-connect audio buffer. */
export const TOPIC_PRE_CONNECT_AUDIO = 'lk.agent.pre-connect-audio-buffer';

/**
 * `AudioTrackFeature.TF_PRECONNECT_BUFFER` (livekit protocol): a microphone published with it has a
 * pre-connect buffer on its way. rtc-node does not export the enum.
 */
export const TF_PRECONNECT_BUFFER = 6;

/** Options of {@link PreConnectAudio}. */
export interface PreConnectAudioOptions {
  room: Room;
  logger: Logger;
  /** Largest buffer read, bytes (default 2 MiB: 10 s of 48 kHz stereo PCM, what clients record at most). */
  maxBytes?: number;
  /** Longest buffered audio taken, ms (default 15 000; clients stop recording after 10 s). */
  maxDurationMs?: number;
  /**
   * A stream must end within this of its first byte, and a microphone published with the pre-connect
   * flag waits at most this long after it is subscribed for its buffer (holding its live audio), ms
   * (default 5 000; LiveKit's Python agents wait 3 s).
   */
  timeoutMs?: number;
  /**
   * A buffer that ended before its microphone was subscribed is used only if it ended at most this long
   * before (ms, default 2 000): older audio would leave a gap before the live audio.
   */
  maxAgeMs?: number;
}

/** Where a participant's microphone frames go: buffered audio first, then the live frames. */
export interface PreConnectInput {
  /** One live frame of the microphone. */
  frame(frame: PcmFrame): void;
}

type Outcome = PcmFrame[] | undefined;

/** A buffer for one microphone track (by sid), while read and once read. */
interface Entry {
  identity: string;
  done: Promise<Outcome>;
  endedAt?: number;
  expiry?: NodeJS.Timeout;
}

/**
 * LiveKit's pre-connect audio buffer: clients record the microphone from the moment the user starts,
 * before the agent is there, and send that audio to the agent as a byte stream on
 * {@link TOPIC_PRE_CONNECT_AUDIO} once the agent is an active participant (attributes `trackId`,
 * `sampleRate`, `channels`; WebM/Opus from browsers, s16le PCM from the mobile SDKs). The recording
 * ends when the agent subscribes to that microphone, where the live track takes over.
 *
 * This takes each stream from the participant who owns the track it names, decodes it to the
 * microphone's frame format, and puts it in front of that microphone's live frames: a microphone
 * published with {@link TF_PRECONNECT_BUFFER} holds its live frames until its buffer is in (or
 * `timeoutMs` passed), then hands on the buffer, then what it held, then live frames as they come —
 * in order, once each. Anything malformed, oversized, too old, late or not the sender's is dropped
 * with a log line; the microphone goes on live.
 */
export class PreConnectAudio {
  readonly #o: Required<Omit<PreConnectAudioOptions, 'logger'>>;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  /** Microphones waiting for a buffer that has not started arriving, by track sid. */
  readonly #waiting = new Map<string, { identity: string; take: (entry: Entry) => void }>();
  /** Tracks hooked once: a re-subscription goes straight through. */
  readonly #served = new Set<string>();
  /** Tracks whose buffer was used or given up on: a buffer for them now would come after live audio. */
  readonly #live = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #readers = new Set<ByteStreamReader>();
  #listening = false;
  #closed = false;

  constructor(o: PreConnectAudioOptions) {
    this.#o = {
      room: o.room,
      maxBytes: o.maxBytes ?? 2 * 1024 * 1024,
      maxDurationMs: o.maxDurationMs ?? 15_000,
      timeoutMs: o.timeoutMs ?? 5_000,
      maxAgeMs: o.maxAgeMs ?? 2_000,
    };
    this.#log = o.logger;
  }

  /**
   * Starts accepting buffers. Call it before the room connects: a client sends its buffer the moment
   * the agent is active, and rtc-node drops streams that arrive before a handler exists.
   */
  listen(): void {
    if (this.#listening || this.#closed) return;
    this.#listening = true;
    this.#o.room.registerByteStreamHandler(TOPIC_PRE_CONNECT_AUDIO, (reader, { identity }) =>
      this.#receive(reader, identity),
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#listening) {
      try {
        this.#o.room.unregisterByteStreamHandler(TOPIC_PRE_CONNECT_AUDIO);
      } catch {
        // Already gone with the room.
      }
    }
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const r of this.#readers) void r.close().catch(() => {});
    this.#readers.clear();
    for (const e of this.#entries.values()) clearTimeout(e.expiry);
    this.#entries.clear();
    this.#waiting.clear();
  }

  /**
   * The way in for a subscribed microphone of `identity`: live frames go through the returned input,
   * `deliver` gets the buffer first, then them. `hears` says whether the participant's audio is taken
   * now (push-to-talk: held); buffered audio not taken when it is ready is dropped with a log line.
   */
  input(
    identity: string,
    pub: RemoteTrackPublication,
    deliver: (frame: PcmFrame) => void,
    hears: () => boolean = () => true,
  ): PreConnectInput {
    const sid = pub.sid ?? '';
    const flagged = pub.info?.audioFeatures?.includes(TF_PRECONNECT_BUFFER) ?? false;
    if (!flagged || this.#closed || this.#served.has(sid)) return { frame: deliver };
    this.#served.add(sid);
    const log = this.#log.child({ participant: identity, track: sid });
    let held: PcmFrame[] | undefined = [];
    let heldMs = 0;
    const finish = (frames: Outcome) => {
      if (!held) return;
      this.#live.add(sid);
      clearTimeout(timer);
      this.#timers.delete(timer);
      this.#waiting.delete(sid);
      if (frames?.length) {
        const ms = Math.round(frames.reduce((n, f) => n + frameMs(f), 0));
        if (hears()) {
          log.info(
            { ms, heldMs: Math.round(heldMs) },
            'pre-connect audio: forwarded before the live microphone',
          );
          for (const f of frames) deliver(f);
        } else {
          log.info({ ms }, 'pre-connect audio dropped: not taken now (push-to-talk not held)');
        }
      }
      const live = held;
      held = undefined;
      for (const f of live) deliver(f);
    };
    const timer = setTimeout(() => {
      log.warn({ timeoutMs: this.#o.timeoutMs }, 'pre-connect audio: none complete in time, going on live');
      finish(undefined);
    }, this.#o.timeoutMs);
    this.#timers.add(timer);
    const take = (entry: Entry) => {
      this.#entries.delete(sid);
      clearTimeout(entry.expiry);
      if (entry.identity !== identity) {
        log.warn(
          { sender: entry.identity },
          'pre-connect audio dropped: sent by someone else than the track owner',
        );
        return finish(undefined);
      }
      if (entry.endedAt !== undefined && performance.now() - entry.endedAt > this.#o.maxAgeMs) {
        log.warn({ maxAgeMs: this.#o.maxAgeMs }, 'pre-connect audio dropped: too old');
        return finish(undefined);
      }
      void entry.done.then(finish);
    };
    const entry = this.#entries.get(sid);
    if (entry) take(entry);
    else this.#waiting.set(sid, { identity, take });
    return {
      frame: (f) => {
        if (!held) return deliver(f);
        held.push(f);
        heldMs += frameMs(f);
        // Bounded even if the timer were starved: never much more than the wait in held audio.
        if (heldMs > this.#o.timeoutMs + 1000) {
          log.warn('pre-connect audio: held live audio at its limit, going on live');
          finish(undefined);
        }
      },
    };
  }

  #receive(reader: ByteStreamReader, identity: string): void {
    const info = reader.info;
    const attrs = info.attributes ?? {};
    const trackId = attrs.trackId ?? '';
    const log = this.#log.child({
      participant: identity,
      track: trackId || undefined,
      stream: info.streamId,
    });
    const format: PreConnectFormat = {
      mimeType: info.mimeType,
      sampleRate: Number(attrs.sampleRate),
      channels: Number(attrs.channels),
    };
    const why = this.#refusal(identity, trackId, format, info.totalSize);
    if (why) {
      log.warn(
        { mimeType: info.mimeType.slice(0, 64), bytes: info.totalSize },
        `pre-connect audio dropped: ${why}`,
      );
      void reader.close().catch(() => {});
      return;
    }
    const previous = this.#entries.get(trackId);
    if (previous) clearTimeout(previous.expiry);
    const entry: Entry = { identity, done: Promise.resolve(undefined) };
    entry.done = this.#read(reader, log).then(async (bytes) => {
      const frames = bytes && (await this.#decode(bytes, format, log));
      entry.endedAt = performance.now();
      if (this.#entries.get(trackId) === entry) {
        // Nobody took it (the microphone is not subscribed yet): kept while it is young enough.
        entry.expiry = setTimeout(() => {
          if (this.#entries.get(trackId) === entry) this.#entries.delete(trackId);
        }, this.#o.maxAgeMs + 100);
        entry.expiry.unref();
      }
      return frames;
    });
    this.#entries.set(trackId, entry);
    const waiter = this.#waiting.get(trackId);
    if (waiter) {
      this.#waiting.delete(trackId);
      waiter.take(entry);
    }
  }

  /** Why a stream is not taken (from its header alone), or undefined. */
  #refusal(
    identity: string,
    trackId: string,
    format: PreConnectFormat,
    totalSize?: number,
  ): string | undefined {
    if (this.#closed) return 'the agent is closing';
    if (!trackId) return 'no trackId attribute';
    const pub = this.#o.room.remoteParticipants.get(identity)?.trackPublications.get(trackId);
    if (!pub || pub.kind !== TrackKind.KIND_AUDIO || pub.source !== TrackSource.SOURCE_MICROPHONE)
      return "trackId is not one of the sender's microphones";
    if (!(pub.info?.audioFeatures?.includes(TF_PRECONNECT_BUFFER) ?? false))
      return 'the microphone was not published with the pre-connect flag';
    if (this.#live.has(trackId)) return 'the microphone is already live';
    const encoding = preConnectEncoding(format.mimeType);
    if (!encoding) return 'unsupported format';
    if (encoding === 'pcm' && !(format.sampleRate > 0 && format.channels > 0))
      return 'PCM without sampleRate and channels attributes';
    if (totalSize !== undefined && totalSize > this.#o.maxBytes)
      return `too large (over ${this.#o.maxBytes} bytes)`;
    return undefined;
  }

  /** The stream's bytes, or undefined (logged) when it is too large or does not end in time. */
  async #read(reader: ByteStreamReader, log: Logger): Promise<Uint8Array | undefined> {
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void reader.close().catch(() => {});
    }, this.#o.timeoutMs);
    this.#timers.add(timer);
    this.#readers.add(reader);
    try {
      for await (const chunk of reader) {
        bytes += chunk.length;
        if (bytes > this.#o.maxBytes) {
          log.warn({ maxBytes: this.#o.maxBytes }, 'pre-connect audio dropped: too large');
          return undefined; // leaving the loop closes the reader
        }
        chunks.push(chunk);
      }
    } catch (err) {
      if (!timedOut) {
        log.warn({ err: String(err) }, 'pre-connect audio dropped: the stream failed');
        return undefined;
      }
    } finally {
      clearTimeout(timer);
      this.#timers.delete(timer);
      this.#readers.delete(reader);
    }
    if (this.#closed) return undefined;
    if (timedOut) {
      log.warn({ timeoutMs: this.#o.timeoutMs, bytes }, 'pre-connect audio dropped: not complete in time');
      return undefined;
    }
    return Buffer.concat(chunks);
  }

  async #decode(bytes: Uint8Array, format: PreConnectFormat, log: Logger): Promise<Outcome> {
    try {
      const frames = await decodePreConnectAudio(bytes, format, { maxMs: this.#o.maxDurationMs });
      if (!frames.length) log.warn({ bytes: bytes.length }, 'pre-connect audio dropped: no audio in it');
      return frames;
    } catch (err) {
      log.warn({ err: String(err), bytes: bytes.length }, 'pre-connect audio dropped: undecodable');
      return undefined;
    }
  }
}
