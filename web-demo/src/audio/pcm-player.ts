import { Emitter } from '../emitter.ts';

/**
 * Gapless playback of PCM chunks (the Live API's 24 kHz output) through Web Audio. Chunks are scheduled
 * back to back on the context clock; `interrupt()` drops everything queued, for barge-in.
 */
export class PcmPlayer extends Emitter<{ playing: []; idle: [] }> {
  readonly context: AudioContext;
  /** Everything the player outputs passes through this node (visualisers tap it). */
  readonly output: GainNode;
  #playhead = 0;
  #sources = new Set<AudioBufferSourceNode>();

  constructor(context: AudioContext) {
    super();
    this.context = context;
    this.output = context.createGain();
    this.output.connect(context.destination);
  }

  get playing(): boolean {
    return this.#sources.size > 0;
  }

  enqueue(samples: Int16Array, sampleRate: number): void {
    if (samples.length === 0) return;
    const buffer = this.context.createBuffer(1, samples.length, sampleRate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i]! / 0x8000;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.output);
    // A small lead absorbs network jitter when playback (re)starts; later chunks queue seamlessly.
    const now = this.context.currentTime;
    const start = this.#playhead > now ? this.#playhead : now + 0.05;
    source.start(start);
    this.#playhead = start + buffer.duration;
    const wasIdle = this.#sources.size === 0;
    this.#sources.add(source);
    source.onended = () => {
      this.#sources.delete(source);
      source.disconnect();
      if (this.#sources.size === 0) this.emit('idle');
    };
    if (wasIdle) this.emit('playing');
  }

  /** Stops playback at once and forgets the queue. */
  interrupt(): void {
    for (const s of this.#sources) {
      s.onended = null;
      try {
        s.stop();
      } catch {}
      s.disconnect();
    }
    const had = this.#sources.size > 0;
    this.#sources.clear();
    this.#playhead = 0;
    if (had) this.emit('idle');
  }

  close(): void {
    this.interrupt();
    this.output.disconnect();
    this.removeAllListeners();
  }
}
