// 16-bit PCM <-> base64, the Live API's audio encoding. Every platform a browser runs on is
// little-endian, which is what the API expects, so typed-array views are used as is.

export function int16ToBase64(samples: Int16Array): string {
  const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  let binary = '';
  // String.fromCharCode has an argument-count limit; 32 KiB slices stay well below it.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function base64ToInt16(data: string): Int16Array {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length & ~1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Int16Array(bytes.buffer);
}

/** Sample rate declared in a mime type such as `audio/pcm;rate=24000`, or `fallback`. */
export function rateOf(mimeType: string | undefined, fallback: number): number {
  const match = /rate=(\d+)/.exec(mimeType ?? '');
  return match ? Number(match[1]) : fallback;
}
