import { EventEmitter } from 'node:events';
import { AudioFrame, AudioResampler, AudioSource, LocalAudioTrack } from '@livekit/rtc-node';
import { concatPcm16 } from '../../shared/audio/pcm.ts';
import { LIVE_OUTPUT_RATE } from '../../shared/audio/rates.ts';

/** Options of an {@link AudioOutput}. */
export interface AudioOutputOptions {
  /** Rate of the published track; the model speaks 24 kHz (default). */
  sampleRate?: number;
  /** Native queue of the AudioSource, ms (default 100): small, so barge-in has little to flush. */
  queueMs?: number;
  /** Track name (default `agent_audio`). */
  trackName?: string;
}

/** Events of an {@link AudioOutput}. */
export type AudioOutputEvents = {
  /** The first frame of a reply went out. */
  playoutStarted: [];
  /** Everything pushed has been played (or cleared). `interrupted` when cleared by barge-in. */
  playoutFinished: [info: { interrupted: boolean }];
};

const FRAME_MS = 20;

/**
 * The agent's voice: model PCM into an AudioSource with a small queue. Audio waits in a JS queue and is
 * fed at the pace the source accepts it, so {@link AudioOutput.clear} (barge-in) drops everything not yet
 * played at once — the JS queue and the native queue.
 */
export class AudioOutput extends EventEmitter<AudioOutputEvents> {
  readonly source: AudioSource;
  readonly track: LocalAudioTrack;
  readonly sampleRate: number;
  #queue: Int16Array[] = [];
  #queuedSamples = 0;
  #pumping = false;
  #speaking = false;
  #generation = 0;
  #closed = false;
  #resamplers = new Map<number, AudioResampler>();
  #frameSamples: number;
  #partial: Int16Array = new Int16Array(0);

  constructor(options: AudioOutputOptions = {}) {
    super();
    this.sampleRate = options.sampleRate ?? LIVE_OUTPUT_RATE;
    this.source = new AudioSource(this.sampleRate, 1, options.queueMs ?? 100);
    this.track = LocalAudioTrack.createAudioTrack(options.trackName ?? 'agent_audio', this.source);
    this.#frameSamples = (this.sampleRate * FRAME_MS) / 1000;
  }

  /** True from the first frame of a reply until it has played out or was cleared. */
  get speaking(): boolean {
    return this.#speaking;
  }

  /** Audio waiting in the JS queue, ms (the native queue holds at most `queueMs` more). */
  get queuedMs(): number {
    return (this.#queuedSamples * 1000) / this.sampleRate;
  }

  /** Queues model speech (any rate; resampled once if it is not the track's). */
  push(pcm: Int16Array, sampleRate = this.sampleRate): void {
    if (this.#closed || pcm.length === 0) return;
    let data = pcm;
    if (sampleRate !== this.sampleRate) {
      let r = this.#resamplers.get(sampleRate);
      if (!r) {
        r = new AudioResampler(sampleRate, this.sampleRate, 1);
        this.#resamplers.set(sampleRate, r);
      }
      data = concatPcm16(r.push(new AudioFrame(pcm, sampleRate, 1, pcm.length)).map((f) => f.data));
    }
    // Cut into fixed 20 ms frames, carrying the remainder to the next push. Frames are copies: an
    // AudioFrame hands the FFI its whole underlying buffer, so a view into a larger one would not do.
    let joined = data;
    if (this.#partial.length) {
      joined = new Int16Array(this.#partial.length + data.length);
      joined.set(this.#partial);
      joined.set(data, this.#partial.length);
    }
    let off = 0;
    while (joined.length - off >= this.#frameSamples) {
      this.#enqueue(joined.slice(off, off + this.#frameSamples));
      off += this.#frameSamples;
    }
    this.#partial = joined.slice(off);
    this.#pump();
  }

  /** End of a reply: flushes the last partial frame. */
  flush(): void {
    if (this.#partial.length) {
      this.#enqueue(this.#partial);
      this.#partial = new Int16Array(0);
      this.#pump();
    }
  }

  /** Barge-in: drops all queued speech now. */
  clear(): void {
    this.#generation += 1;
    this.#queue = [];
    this.#queuedSamples = 0;
    this.#partial = new Int16Array(0);
    if (!this.#closed) this.source.clearQueue();
    if (this.#speaking) {
      this.#speaking = false;
      this.emit('playoutFinished', { interrupted: true });
    }
  }

  async aclose(): Promise<void> {
    if (this.#closed) return;
    this.clear();
    this.#closed = true;
    for (const r of this.#resamplers.values()) r.close();
    this.#resamplers.clear();
    await this.track.close(false).catch(() => {});
    await this.source.close().catch(() => {});
  }

  #enqueue(frame: Int16Array): void {
    this.#queue.push(frame);
    this.#queuedSamples += frame.length;
  }

  async #pump(): Promise<void> {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    try {
      while (this.#queue.length && !this.#closed) {
        const frame = this.#queue.shift()!;
        this.#queuedSamples -= frame.length;
        if (!this.#speaking) {
          this.#speaking = true;
          this.emit('playoutStarted');
        }
        await this.source.captureFrame(new AudioFrame(frame, this.sampleRate, 1, frame.length));
      }
      if (this.#speaking) void this.#watchPlayout(this.#generation);
    } catch {
      // The source closed under us (shutdown); nothing left to play.
    } finally {
      this.#pumping = false;
    }
  }

  async #watchPlayout(gen: number): Promise<void> {
    await this.source.waitForPlayout().catch(() => {});
    if (gen === this.#generation && !this.#pumping && this.#queue.length === 0 && this.#speaking) {
      this.#speaking = false;
      this.emit('playoutFinished', { interrupted: false });
    }
  }
}
