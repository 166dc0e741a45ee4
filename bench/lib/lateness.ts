/**
 * How late the bench's own processes were: a simulated user's 10 ms frames captured after their due
 * time on the wall clock, and a process's event-loop delay. The capacity phase reports these beside the
 * agent's figures so that a level where the load generator (or the dev server, or the emulator) fell
 * behind is not charged to the agent.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** A frame captured more than this after its due time counts as late. */
export const LATE_FRAME_MS = 20;

/** Frame lateness in 1 ms buckets (0..999 ms, the last one open-ended), mergeable across processes. */
export interface FrameLatenessData {
  frames: number;
  /** Captured more than {@link LATE_FRAME_MS} after the due time. */
  late: number;
  /** Never captured: skipped after a stall of more than 200 ms (the user's audio has a hole). */
  dropped: number;
  maxMs: number;
  /** Sparse histogram: [bucket (whole ms), count]. */
  buckets: [number, number][];
}

export interface FrameLatenessSummary {
  frames: number;
  late: number;
  dropped: number;
  /** Late + dropped, % of frames due. */
  latePct: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number;
}

export class FrameLateness {
  #counts = new Map<number, number>();
  #frames = 0;
  #late = 0;
  #dropped = 0;
  #max = 0;

  /** A frame captured `ms` after its due time. */
  record(ms: number): void {
    const v = Math.max(0, ms);
    const b = Math.min(999, Math.floor(v));
    this.#counts.set(b, (this.#counts.get(b) ?? 0) + 1);
    this.#frames++;
    if (v > LATE_FRAME_MS) this.#late++;
    if (v > this.#max) this.#max = v;
  }

  /** `n` frames skipped after a stall. */
  drop(n: number): void {
    this.#dropped += n;
  }

  reset(): void {
    this.#counts.clear();
    this.#frames = 0;
    this.#late = 0;
    this.#dropped = 0;
    this.#max = 0;
  }

  data(): FrameLatenessData {
    return {
      frames: this.#frames,
      late: this.#late,
      dropped: this.#dropped,
      maxMs: this.#max,
      buckets: [...this.#counts.entries()].sort((a, b) => a[0] - b[0]),
    };
  }
}

/** Several recorders' data as one (the users of all generator processes). */
export function mergeLateness(parts: readonly FrameLatenessData[]): FrameLatenessData {
  const counts = new Map<number, number>();
  const out: FrameLatenessData = { frames: 0, late: 0, dropped: 0, maxMs: 0, buckets: [] };
  for (const p of parts) {
    out.frames += p.frames;
    out.late += p.late;
    out.dropped += p.dropped;
    out.maxMs = Math.max(out.maxMs, p.maxMs);
    for (const [b, c] of p.buckets) counts.set(b, (counts.get(b) ?? 0) + c);
  }
  out.buckets = [...counts.entries()].sort((a, b) => a[0] - b[0]);
  return out;
}

/** Percentiles are bucket upper edges (1 ms resolution); the max is exact. */
export function summarizeLateness(d: FrameLatenessData): FrameLatenessSummary {
  const at = (q: number): number | null => {
    if (d.frames === 0) return null;
    const rank = Math.ceil(q * d.frames);
    let seen = 0;
    for (const [b, c] of d.buckets) {
      seen += c;
      if (seen >= rank) return Math.min(b + 1, Math.round(d.maxMs * 10) / 10);
    }
    return Math.round(d.maxMs * 10) / 10;
  };
  const due = d.frames + d.dropped;
  return {
    frames: d.frames,
    late: d.late,
    dropped: d.dropped,
    latePct: due ? Math.round(((d.late + d.dropped) / due) * 1000) / 10 : 0,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: Math.round(d.maxMs * 10) / 10,
  };
}

/** Event-loop delay of one process over a window, ms. */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The worst of several processes' delays, figure by figure. */
export function worstLoopDelay(parts: readonly (LoopDelay | undefined)[]): LoopDelay | undefined {
  const some = parts.filter((p): p is LoopDelay => p !== undefined);
  if (!some.length) return undefined;
  return {
    p50Ms: Math.max(...some.map((p) => p.p50Ms)),
    p99Ms: Math.max(...some.map((p) => p.p99Ms)),
    maxMs: Math.max(...some.map((p) => p.maxMs)),
  };
}

/** This process's event-loop delay (`perf_hooks`, 10 ms resolution), read and reset per window. */
export class LoopMonitor {
  #h = monitorEventLoopDelay({ resolution: 10 });

  constructor() {
    this.#h.enable();
  }

  /** Starts over; the interval in progress at the reset is not recorded (perf_hooks). */
  reset(): void {
    this.#h.reset();
  }

  /**
   * The delay beyond the sampling timer's own 10 ms; a histogram with no samples yet reads as 0.
   */
  read(): LoopDelay {
    const ms = (ns: number) => (Number.isFinite(ns) ? Math.max(0, Math.round((ns / 1e6 - 10) * 10) / 10) : 0);
    if (this.#h.count === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 };
    return { p50Ms: ms(this.#h.percentile(50)), p99Ms: ms(this.#h.percentile(99)), maxMs: ms(this.#h.max) };
  }

  close(): void {
    this.#h.disable();
  }
}
