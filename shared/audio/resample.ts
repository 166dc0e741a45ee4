/**
 * Sample-rate conversion for speech. Linear interpolation, preceded by a short box low-pass when
 * downsampling so that content above the new Nyquist folds back less. Good enough for VAD, echo and
 * tests; not a mastering-grade resampler.
 */
export function resamplePcm16(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate || input.length === 0) return input.slice();
  const ratio = fromRate / toRate;
  const source = ratio > 1 ? boxLowPass(input, Math.round(ratio)) : input;
  const outLength = Math.floor((input.length * toRate) / fromRate);
  const out = new Int16Array(outLength);
  const last = source.length - 1;
  for (let i = 0; i < outLength; i++) {
    const pos = i * ratio;
    const i0 = Math.floor(pos);
    const frac = pos - i0;
    const a = source[Math.min(i0, last)]!;
    const b = source[Math.min(i0 + 1, last)]!;
    out[i] = Math.round(a + (b - a) * frac);
  }
  return out;
}

function boxLowPass(input: Int16Array, width: number): Int16Array {
  if (width <= 1) return input;
  const out = new Int16Array(input.length);
  let acc = 0;
  for (let i = 0; i < input.length; i++) {
    acc += input[i]!;
    if (i >= width) acc -= input[i - width]!;
    out[i] = Math.round(acc / Math.min(i + 1, width));
  }
  return out;
}

/**
 * Streaming resampler: keeps the fractional read position between blocks so a stream cut into
 * arbitrary chunks resamples without clicks or drift.
 */
export class StreamResampler {
  readonly fromRate: number;
  readonly toRate: number;
  #pos = 0;
  #prev: number | undefined;

  constructor(fromRate: number, toRate: number) {
    this.fromRate = fromRate;
    this.toRate = toRate;
  }

  push(input: Int16Array): Int16Array {
    if (this.fromRate === this.toRate) return input.slice();
    if (input.length === 0) return new Int16Array(0);
    const step = this.fromRate / this.toRate;
    // Index -1 is the last sample of the previous block, so interpolation spans block edges.
    const at = (i: number) => (i < 0 ? (this.#prev ?? input[0]!) : input[i]!);
    const out: number[] = [];
    let pos = this.#pos;
    while (pos < input.length - 1) {
      const i0 = Math.floor(pos);
      const frac = pos - i0;
      const a = at(i0);
      const b = at(i0 + 1);
      out.push(Math.round(a + (b - a) * frac));
      pos += step;
    }
    this.#pos = pos - input.length;
    this.#prev = input[input.length - 1];
    return Int16Array.from(out);
  }
}
