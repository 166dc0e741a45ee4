/**
 * 16-bit little-endian mono PCM, the only sample format Gemini Live and LiveKit exchange here.
 * Samples are `Int16Array` in memory; on the wire they are bytes (often base64).
 */

/** True on little-endian hosts, where an Int16Array's memory already is PCM16 LE. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** PCM16 bytes (little-endian) → samples. Copies, so odd offsets and pooled buffers are safe. */
export function bytesToPcm16(bytes: Uint8Array): Int16Array {
  const count = bytes.byteLength >> 1;
  const out = new Int16Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, count * 2));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
  for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Samples → PCM16 bytes (little-endian). */
export function pcm16ToBytes(samples: Int16Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(samples.slice().buffer);
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i]!, true);
  return out;
}

/** Base64 PCM16 → samples. */
export function base64ToPcm16(data: string): Int16Array {
  return bytesToPcm16(Buffer.from(data, 'base64'));
}

/** Samples → base64 PCM16, the encoding of `inlineData.data` / `realtimeInput.audio.data`. */
export function pcm16ToBase64(samples: Int16Array): string {
  // Per-frame hot path: encode straight from the samples' memory, no intermediate copy.
  const bytes = LITTLE_ENDIAN
    ? Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)
    : Buffer.from(pcm16ToBytes(samples).buffer);
  return bytes.toString('base64');
}

/** Float samples in [-1, 1] → PCM16 (clipped). The exact inverse of {@link pcm16ToFloat}. */
export function floatToPcm16(samples: ArrayLike<number>): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32768)));
  }
  return out;
}

/** PCM16 → float samples in [-1, 1). */
export function pcm16ToFloat(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i]! / 32768;
  return out;
}

/** Concatenates sample blocks. */
export function concatPcm16(blocks: readonly Int16Array[]): Int16Array {
  let total = 0;
  for (const b of blocks) total += b.length;
  const out = new Int16Array(total);
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Duration in seconds of `samples` at `sampleRate`. */
export function durationSeconds(samples: { length: number }, sampleRate: number): number {
  return samples.length / sampleRate;
}

/**
 * Sample rate declared by a PCM mime type (`audio/pcm;rate=16000`); `fallback` when absent.
 * Returns `undefined` for anything that is not raw PCM (`audio/opus`, `audio/wav`, …).
 */
export function parsePcmMimeType(mimeType: string, fallback = 16_000): number | undefined {
  const [type, ...params] = mimeType.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'audio/pcm' && type !== 'audio/l16') return undefined;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k === 'rate') {
      const rate = Number(v);
      return Number.isInteger(rate) && rate >= 4_000 && rate <= 192_000 ? rate : undefined;
    }
  }
  return fallback;
}

/** `audio/pcm;rate=R` */
export function pcmMimeType(sampleRate: number): string {
  return `audio/pcm;rate=${sampleRate}`;
}
