/**
 * Sums several participants' 16 kHz frames into one stream for a shared Live session. A single talker's
 * frames pass straight through; with several, frames are mixed as soon as every recently active source
 * has one, and a source that lags more than `maxLagFrames` is mixed in silent so nobody waits on it.
 */
export class InputMixer {
  readonly #queues = new Map<string, { frames: Int16Array[]; lastPush: number }>();
  readonly #out: (pcm: Int16Array) => void;
  readonly #maxLagFrames: number;
  readonly #activeMs: number;

  constructor(out: (pcm: Int16Array) => void, options: { maxLagFrames?: number; activeMs?: number } = {}) {
    this.#out = out;
    this.#maxLagFrames = options.maxLagFrames ?? 3;
    this.#activeMs = options.activeMs ?? 200;
  }

  push(source: string, pcm: Int16Array, now = performance.now()): void {
    let q = this.#queues.get(source);
    if (!q) {
      q = { frames: [], lastPush: now };
      this.#queues.set(source, q);
    }
    q.lastPush = now;
    if (this.#queues.size === 1 && q.frames.length === 0) {
      // One talker, nothing queued: the common case passes straight through.
      this.#out(pcm);
      return;
    }
    q.frames.push(pcm);
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
      if (frames.length === 1) {
        this.#out(frames[0]!);
        continue;
      }
      const len = Math.max(...frames.map((f) => f.length));
      const mixed = new Int16Array(len);
      for (let i = 0; i < len; i++) {
        let s = 0;
        for (const f of frames) s += f[i] ?? 0;
        mixed[i] = Math.min(32767, Math.max(-32768, s));
      }
      this.#out(mixed);
    }
  }
}
