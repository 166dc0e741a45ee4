/** Level and pitch measurements on PCM16, for VAD, tests and benchmarks. */

/** Root-mean-square level, normalised to [0, 1] (1 = full-scale square wave). */
export function rms(samples: Int16Array, start = 0, end = samples.length): number {
  if (end <= start) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const s = samples[i]! / 32768;
    sum += s * s;
  }
  return Math.sqrt(sum / (end - start));
}

/** RMS level in dBFS; silence gives -Infinity. */
export function rmsDbfs(samples: Int16Array, start = 0, end = samples.length): number {
  const r = rms(samples, start, end);
  return r > 0 ? 20 * Math.log10(r) : Number.NEGATIVE_INFINITY;
}

/** dBFS → linear RMS. */
export function dbfsToLinear(db: number): number {
  return 10 ** (db / 20);
}

/** Peak absolute sample value, normalised to [0, 1]. */
export function peak(samples: Int16Array): number {
  let p = 0;
  for (const s of samples) p = Math.max(p, Math.abs(s));
  return p / 32768;
}

/**
 * Dominant frequency estimate by autocorrelation (searching `minHz`..`maxHz`). Robust for tones and
 * voiced speech-like signals; returns 0 for silence.
 */
export function estimateFrequency(
  samples: Int16Array,
  sampleRate: number,
  minHz = 50,
  maxHz = 2_000,
): number {
  const n = Math.min(samples.length, Math.round(sampleRate * 0.2));
  if (n < 4 || rms(samples, 0, n) === 0) return 0;
  const minLag = Math.max(1, Math.floor(sampleRate / maxHz));
  const maxLag = Math.min(n - 1, Math.ceil(sampleRate / minHz));
  const corr = (lag: number) => {
    let s = 0;
    for (let i = 0; i + lag < n; i++) s += samples[i]! * samples[i + lag]!;
    return s / (n - lag);
  };
  let bestLag = 0;
  let best = Number.NEGATIVE_INFINITY;
  const values: number[] = [];
  for (let lag = minLag; lag <= maxLag; lag++) values[lag] = corr(lag);
  const max = Math.max(...values.filter((v) => v !== undefined));
  // The first peak close to the global maximum is the fundamental (later ones are its multiples).
  for (let lag = minLag + 1; lag < maxLag; lag++) {
    const v = values[lag]!;
    if (v >= values[lag - 1]! && v >= values[lag + 1]! && v > 0.9 * max) {
      bestLag = lag;
      best = v;
      break;
    }
  }
  if (best === Number.NEGATIVE_INFINITY) return 0;
  // Parabolic interpolation around the peak for sub-sample accuracy.
  const a = values[bestLag - 1]!;
  const b = values[bestLag]!;
  const c = values[bestLag + 1]!;
  const denom = a - 2 * b + c;
  const shift = denom !== 0 ? (0.5 * (a - c)) / denom : 0;
  return sampleRate / (bestLag + shift);
}

/**
 * Splits a signal into `frameMs` frames and reports which are above `thresholdDbfs`; handy to assert
 * where speech is in a recording.
 */
export function activeFrames(
  samples: Int16Array,
  sampleRate: number,
  frameMs = 20,
  thresholdDbfs = -40,
): boolean[] {
  const size = Math.max(1, Math.round((sampleRate * frameMs) / 1000));
  const out: boolean[] = [];
  for (let at = 0; at < samples.length; at += size) {
    out.push(rmsDbfs(samples, at, Math.min(samples.length, at + size)) > thresholdDbfs);
  }
  return out;
}
