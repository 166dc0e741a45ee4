import { type PcmFrame, sameFormat } from '../audio/frame.ts';

/**
 * Sums several participants' frames into one stream for a shared Live session. A single talker's frames
 * pass straight through; with several, frames are mixed as soon as every recently active source has one,
 * and a source that lags more than `maxLagFrames` is mixed in silent so nobody waits on it. A mix keeps
 * its frames' rate and channels; frames of different formats (the input normally resamples every track
 * to one) are handed on one after the other instead of being summed.
 */
export class InputMixer {
  readonly #queues = new Map<string, { frames: PcmFrame[]; lastPush: number }>();
  readonly #out: (frame: PcmFrame) => void;
  readonly #maxLagFrames: number;
  readonly #activeMs: number;

  constructor(out: (frame: PcmFrame) => void, options: { maxLagFrames?: number; activeMs?: number } = {}) {
    this.#out = out;
    this.#maxLagFrames = options.maxLagFrames ?? 3;
    this.#activeMs = options.activeMs ?? 200;
  }

  push(source: string, frame: PcmFrame, now = performance.now()): void {
    let q = this.#queues.get(source);
    if (!q) {
      q = { frames: [], lastPush: now };
      this.#queues.set(source, q);
    }
    q.lastPush = now;
    if (this.#queues.size === 1 && q.frames.length === 0) {
      // One talker, nothing queued: the common case passes straight through.
      this.#out(frame);
      return;
    }
    q.frames.push(frame);
    this.#drain(now);
  }

  remove(source: string): void {
    this.#queues.delete(source);
    this.#drain(performance.now());
  }

  #drain(now: number): void {
    for (;;) {
      const active = [...this.#queues.values()].filter(
        (q) => q.frames.length || now - q.lastPush < this.#activeMs,
      );
      if (!active.length) return;
      const ready = active.filter((q) => q.frames.length);
      if (!ready.length) return;
      const lagging = ready.length < active.length;
      if (lagging && !ready.some((q) => q.frames.length > this.#maxLagFrames)) return;
      const frames = ready.map((q) => q.frames.shift()!);
      if (frames.length === 1 || !frames.every((f) => sameFormat(f, frames[0]!))) {
        for (const f of frames) this.#out(f);
        continue;
      }
      this.#out(mix(frames));
    }
  }
}

/** Sample-by-sample sum, clipped; the shorter frames end in silence. */
function mix(frames: PcmFrame[]): PcmFrame {
  const len = Math.max(...frames.map((f) => f.data.length));
  const data = new Int16Array(len);
  for (let i = 0; i < len; i++) {
    let s = 0;
    for (const f of frames) s += f.data[i] ?? 0;
    data[i] = Math.min(32767, Math.max(-32768, s));
  }
  return { data, sampleRate: frames[0]!.sampleRate, channels: frames[0]!.channels };
}
