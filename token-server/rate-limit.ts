import type { RateLimitOptions } from './options.ts';

/** Outcome of one {@link RateLimiter.take}. */
export interface RateDecision {
  allowed: boolean;
  /** Seconds until the client's window resets (for `Retry-After`). */
  retryAfterSeconds: number;
}

// Bounds memory when many distinct clients (or spoofed forwarded addresses) pass through.
const MAX_TRACKED_CLIENTS = 100_000;

/**
 * Fixed-window request counter per client key, in process memory. Enough for one instance; replicas
 * each keep their own budget (a shared store would belong in front of them, at the proxy).
 */
export class RateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, { count: number; resetAt: number }>();
  #nextSweep = 0;

  constructor(options: RateLimitOptions) {
    if (!(options.max >= 1) || !(options.windowMs >= 1))
      throw new Error('rateLimit: max and windowMs must be ≥ 1');
    this.#max = options.max;
    this.#windowMs = options.windowMs;
  }

  take(key: string, now = Date.now()): RateDecision {
    this.#sweep(now);
    let w = this.#windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + this.#windowMs };
      this.#windows.set(key, w);
    }
    w.count++;
    return {
      allowed: w.count <= this.#max,
      retryAfterSeconds: Math.max(1, Math.ceil((w.resetAt - now) / 1000)),
    };
  }

  #sweep(now: number): void {
    if (now < this.#nextSweep && this.#windows.size < MAX_TRACKED_CLIENTS) return;
    this.#nextSweep = now + this.#windowMs;
    for (const [k, w] of this.#windows) if (w.resetAt <= now) this.#windows.delete(k);
    // Still full of live windows: forget the oldest entries (Map keeps insertion order).
    for (const k of this.#windows.keys()) {
      if (this.#windows.size < MAX_TRACKED_CLIENTS) break;
      this.#windows.delete(k);
    }
  }
}
