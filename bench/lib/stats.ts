/** Small statistics helpers for the bench: percentiles, summaries, ratios. */

export interface Summary {
  /** Samples the figures were computed from. */
  n: number;
  p50: number | null;
  p95: number | null;
  mean: number | null;
  max: number | null;
}

/** Linear-interpolated percentile (`q` in 0..1) of unsorted values; `null` when empty. */
export function percentile(values: readonly number[], q: number): number | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return v[lo]! + (v[hi]! - v[lo]!) * (pos - lo);
}

const round = (x: number | null, digits = 1): number | null =>
  x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits;

export function summarize(values: readonly number[], digits = 1): Summary {
  const v = values.filter((x) => Number.isFinite(x));
  return {
    n: v.length,
    p50: round(percentile(v, 0.5), digits),
    p95: round(percentile(v, 0.95), digits),
    mean: v.length ? round(v.reduce((a, b) => a + b, 0) / v.length, digits) : null,
    max: v.length ? round(Math.max(...v), digits) : null,
  };
}

/** ours / reference, rounded to 2 decimals; `null` if either is missing or the reference is 0. */
export function ratio(ours: number | null | undefined, reference: number | null | undefined): number | null {
  if (ours === null || ours === undefined || reference === null || reference === undefined) return null;
  if (reference === 0) return null;
  return Math.round((ours / reference) * 100) / 100;
}

/** Epoch milliseconds with sub-millisecond precision, the same clock as the emulator's stats. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The spread of one figure over repeated runs. */
export interface Spread {
  n: number;
  median: number | null;
  min: number | null;
  max: number | null;
}

/** Median and min–max of the runs' values (missing values left out). */
export function spread(values: readonly (number | null | undefined)[], digits = 2): Spread {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return {
    n: v.length,
    median: round(percentile(v, 0.5), digits),
    min: v.length ? round(Math.min(...v), digits) : null,
    max: v.length ? round(Math.max(...v), digits) : null,
  };
}
