/** What the bench calls voice: energy per 10 ms block, the same rule at every measuring point. */

/** Voiced = 10 ms block RMS above this (−40 dBFS). */
export const VOICE_RMS = 32768 * 10 ** (-40 / 20);

/** Where the voice is in a PCM chunk, in 10 ms blocks. */
export function voicedRange(pcm: Int16Array, rate: number): { from?: number; to?: number; ms: number } {
  const block = Math.max(1, Math.round(rate / 100));
  let from: number | undefined;
  let to: number | undefined;
  let ms = 0;
  for (let at = 0, i = 0; at < pcm.length; at += block, i++) {
    const end = Math.min(pcm.length, at + block);
    let sum = 0;
    for (let k = at; k < end; k++) sum += pcm[k]! * pcm[k]!;
    if (Math.sqrt(sum / (end - at)) > VOICE_RMS) {
      from ??= i * 10;
      to = (i + 1) * 10;
      ms += 10;
    }
  }
  return { from, to, ms };
}
