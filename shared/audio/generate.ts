/** Deterministic test signals as PCM16: silence, tones, noise and a speech-like voice. */

/** `seconds` of digital silence. */
export function silence(seconds: number, sampleRate: number): Int16Array {
  return new Int16Array(Math.round(seconds * sampleRate));
}

/** A sine tone; `amplitude` in [0, 1] of full scale. */
export function tone(
  seconds: number,
  sampleRate: number,
  options: { frequency?: number; amplitude?: number; phase?: number } = {},
): Int16Array {
  const { frequency = 440, amplitude = 0.3, phase = 0 } = options;
  const n = Math.round(seconds * sampleRate);
  const out = new Int16Array(n);
  const w = (2 * Math.PI * frequency) / sampleRate;
  for (let i = 0; i < n; i++) out[i] = Math.round(Math.sin(phase + w * i) * amplitude * 32767);
  return out;
}

/** Small seeded PRNG (mulberry32): same seed, same signal, on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** White noise at `amplitude` (RMS ≈ amplitude / √3). */
export function noise(seconds: number, sampleRate: number, amplitude = 0.01, seed = 1): Int16Array {
  const rand = prng(seed);
  const n = Math.round(seconds * sampleRate);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round((rand() * 2 - 1) * amplitude * 32767);
  return out;
}

/** Options of {@link speechLike}. */
export interface SpeechLikeOptions {
  /** Fundamental frequency (voice pitch) in Hz. Default 140. */
  f0?: number;
  /** Peak amplitude in [0, 1]. Default 0.4. */
  amplitude?: number;
  /** Syllables per second. Default 4 (conversational speech). */
  syllableRate?: number;
  /** PRNG seed for the syllable pattern. Default 1. */
  seed?: number;
}

/**
 * Level of the voice's breath noise against its buzz (RMS ≈ −30 dB of the peak). Real speech has energy
 * up to 8 kHz; the buzz alone is silent above ~1.5 kHz (−130 dB a bin), and LiveKit's `BarVisualizer`,
 * which reads 2–4.7 kHz down to −100 dB, then shows the codec's noise or nothing.
 */
const BREATH = 0.05;

/**
 * A voice-like signal: a harmonic-rich glottal buzz at `f0` with slight vibrato, plus a little
 * breath noise, shaped by syllable envelopes (~4 Hz) with short dips between syllables —
 * never fully silent inside, so an energy VAD sees one utterance. Deterministic for a given seed.
 */
export function speechLike(seconds: number, sampleRate: number, options: SpeechLikeOptions = {}): Int16Array {
  const { f0 = 140, amplitude = 0.4, syllableRate = 4, seed = 1 } = options;
  const rand = prng(seed);
  const n = Math.round(seconds * sampleRate);
  const out = new Int16Array(n);
  const harmonics = [1, 0.6, 0.45, 0.3, 0.25, 0.15, 0.1];
  const norm = harmonics.reduce((a, b) => a + b, 0);
  let phase = 0;
  let sylStart = 0;
  let sylLen = Math.round(sampleRate / syllableRate);
  let sylGain = 0.7 + 0.3 * rand();
  // Its own generator, so the syllable pattern of a seed is what it was before the breath was added.
  const hiss = prng(seed ^ 0x5eed);
  for (let i = 0; i < n; i++) {
    if (i - sylStart >= sylLen) {
      sylStart = i;
      sylLen = Math.round((sampleRate / syllableRate) * (0.7 + 0.6 * rand()));
      sylGain = 0.7 + 0.3 * rand();
    }
    const t = (i - sylStart) / sylLen;
    // Raised-sine syllable envelope with a floor of 0.25 so inter-syllable dips stay voiced.
    const env = 0.25 + 0.75 * Math.sin(Math.PI * t) ** 2;
    const f = f0 * (1 + 0.02 * Math.sin((2 * Math.PI * 5 * i) / sampleRate));
    phase += (2 * Math.PI * f) / sampleRate;
    let s = 0;
    for (let h = 0; h < harmonics.length; h++) s += harmonics[h]! * Math.sin((h + 1) * phase);
    s += BREATH * norm * (hiss() * 2 - 1);
    // Fade in/out over 10 ms so the utterance has no clicks at its edges.
    const edge = Math.min(1, i / (sampleRate * 0.01), (n - 1 - i) / (sampleRate * 0.01));
    out[i] = Math.round((s / norm) * env * sylGain * amplitude * edge * 32767);
  }
  return out;
}

/**
 * An utterance surrounded by silence, the usual VAD test input:
 * `lead` s silence, `speech` s {@link speechLike}, `trail` s silence.
 */
export function utterance(
  sampleRate: number,
  options: { lead?: number; speech?: number; trail?: number } & SpeechLikeOptions = {},
): Int16Array {
  const { lead = 0.2, speech = 1, trail = 1, ...voice } = options;
  const a = silence(lead, sampleRate);
  const b = speechLike(speech, sampleRate, voice);
  const c = silence(trail, sampleRate);
  const out = new Int16Array(a.length + b.length + c.length);
  out.set(a, 0);
  out.set(b, a.length);
  out.set(c, a.length + b.length);
  return out;
}

/** Splits samples into consecutive `ms`-long chunks (the last may be shorter). */
export function chunk(samples: Int16Array, sampleRate: number, ms: number): Int16Array[] {
  const size = Math.max(1, Math.round((sampleRate * ms) / 1000));
  const out: Int16Array[] = [];
  for (let at = 0; at < samples.length; at += size) out.push(samples.subarray(at, at + size));
  return out;
}
