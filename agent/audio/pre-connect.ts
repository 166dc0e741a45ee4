import { AudioFrame, AudioResampler } from '@livekit/rtc-node';
import { OpusDecoder } from 'opus-decoder';
import { concatPcm16 } from '../../shared/audio/pcm.ts';
import { LIVE_INPUT_RATE } from '../../shared/audio/rates.ts';
import type { PcmFrame } from './frame.ts';
import { readWebmOpus } from './webm.ts';

/** The pre-connect buffer's audio as the client described it (stream mimeType and attributes). */
export interface PreConnectFormat {
  /** The byte stream's mimeType: WebM/Opus from browsers, none (octet-stream) for PCM from mobile SDKs. */
  mimeType: string;
  /** `sampleRate` attribute, Hz (of the PCM; informative for Opus, which carries its own). */
  sampleRate: number;
  /** `channels` attribute. */
  channels: number;
}

/** The buffer cannot be decoded (unsupported format, malformed data): its message says why. */
export class PreConnectFormatError extends Error {
  override name = 'PreConnectFormatError';
}

/** Rates libopus decodes to natively. */
const OPUS_RATES = new Set([8000, 12000, 16000, 24000, 48000]);

/**
 * How the buffer is encoded, from its mimeType: `opus` for what livekit-client's MediaRecorder writes
 * (`audio/webm;codecs=opus`) or React Native's `audio/opus`, `pcm` for interleaved s16le (the Swift and
 * Android SDKs send no mimeType, i.e. `application/octet-stream`), `undefined` for anything else
 * (Safari's `video/mp4` fallback: AAC this agent does not decode).
 */
export function preConnectEncoding(mimeType: string): 'opus' | 'pcm' | undefined {
  const m = mimeType.toLowerCase().replace(/\s+/g, '');
  const base = m.split(';')[0] ?? '';
  if (base === 'audio/opus' || m.includes('codecs=opus') || base === 'audio/webm') return 'opus';
  if (base === '' || base === 'application/octet-stream' || base === 'audio/pcm' || base === 'audio/l16')
    return 'pcm';
  return undefined;
}

/**
 * Decodes a whole pre-connect buffer into mono PCM16 frames of `frameMs` at `sampleRate` (default
 * the Live API's input rate), the same shape as the microphone track's frames, so the input policy
 * cannot tell them apart. Throws {@link PreConnectFormatError} for anything it will not take.
 */
export async function decodePreConnectAudio(
  bytes: Uint8Array,
  format: PreConnectFormat,
  o: { sampleRate?: number; frameMs?: number; maxMs?: number } = {},
): Promise<PcmFrame[]> {
  const rate = o.sampleRate ?? LIVE_INPUT_RATE;
  const maxMs = o.maxMs ?? Number.POSITIVE_INFINITY;
  const frameSamples = Math.round((rate * (o.frameMs ?? 20)) / 1000);
  const encoding = preConnectEncoding(format.mimeType);
  let mono: Int16Array;
  let monoRate: number;
  if (encoding === 'opus') {
    if (!OPUS_RATES.has(rate)) throw new PreConnectFormatError(`Opus does not decode to ${rate} Hz`);
    mono = await decodeWebmOpus(bytes, rate, (maxMs * rate) / 1000);
    monoRate = rate;
  } else if (encoding === 'pcm') {
    const { sampleRate, channels } = format;
    if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 192_000)
      throw new PreConnectFormatError(`bad sampleRate attribute ${sampleRate}`);
    if (!Number.isInteger(channels) || channels < 1 || channels > 8)
      throw new PreConnectFormatError(`bad channels attribute ${channels}`);
    const ms = (bytes.length / 2 / channels / sampleRate) * 1000;
    if (ms > maxMs) throw new PreConnectFormatError(`longer than ${maxMs} ms`);
    // A trailing partial sample is dropped, like LiveKit's AudioByteStream flush of whole samples.
    const samples = new Int16Array(Math.floor(bytes.length / 2 / channels) * channels);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true);
    mono = downmix(samples, channels);
    monoRate = sampleRate;
  } else {
    throw new PreConnectFormatError(`unsupported mimeType ${JSON.stringify(format.mimeType.slice(0, 64))}`);
  }
  if (monoRate !== rate) mono = resample(mono, monoRate, rate);
  const frames: PcmFrame[] = [];
  for (let at = 0; at < mono.length; at += frameSamples) {
    // Copies (slice): an AudioFrame-like frame must own its buffer.
    const data = mono.slice(at, at + frameSamples);
    frames.push({ data, sampleRate: rate, channels: 1 });
  }
  return frames;
}

/** Opus packets of a WebM file, decoded (and mixed to mono) at `rate`; at most `maxSamples`. */
async function decodeWebmOpus(bytes: Uint8Array, rate: number, maxSamples: number): Promise<Int16Array> {
  let webm: ReturnType<typeof readWebmOpus>;
  try {
    webm = readWebmOpus(bytes);
  } catch (err) {
    throw new PreConnectFormatError((err as Error).message);
  }
  const decoder = new OpusDecoder({
    channels: webm.channels,
    // OpusHead counts pre-skip at 48 kHz; opus-decoder drops that many samples of its output rate.
    preSkip: Math.round((webm.preSkip * rate) / 48_000),
    sampleRate: rate as 16000,
  });
  try {
    await decoder.ready;
    const parts: Int16Array[] = [];
    let total = 0;
    let errors = 0;
    // Packet by packet, so a long recording is refused before it is decoded whole.
    for (const packet of webm.packets) {
      const out = decoder.decodeFrame(packet);
      errors += out.errors.length;
      const [left, right] = out.channelData;
      const pcm = new Int16Array(out.samplesDecoded);
      for (let i = 0; i < pcm.length; i++) {
        const s = right ? (left![i]! + right[i]!) / 2 : left![i]!;
        pcm[i] = Math.max(-32768, Math.min(32767, Math.round(s * 32768)));
      }
      parts.push(pcm);
      total += pcm.length;
      if (total > maxSamples) throw new PreConnectFormatError(`longer than ${(maxSamples / rate) * 1000} ms`);
    }
    if (errors && errors * 2 >= webm.packets.length)
      throw new PreConnectFormatError(`Opus: ${errors} of ${webm.packets.length} packets undecodable`);
    return concatPcm16(parts);
  } finally {
    decoder.free();
  }
}

function downmix(samples: Int16Array, channels: number): Int16Array {
  if (channels === 1) return samples;
  const out = new Int16Array(samples.length / channels);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += samples[i * channels + c]!;
    out[i] = Math.round(s / channels);
  }
  return out;
}

/** The FFI's resampler, the one the agent's output already uses. */
function resample(pcm: Int16Array, from: number, to: number): Int16Array {
  const r = new AudioResampler(from, to, 1);
  try {
    const frames = [...r.push(new AudioFrame(pcm, from, 1, pcm.length)), ...r.flush()];
    const out = new Int16Array(frames.reduce((n, f) => n + f.data.length, 0));
    let off = 0;
    for (const f of frames) {
      out.set(f.data, off);
      off += f.data.length;
    }
    return out;
  } finally {
    r.close();
  }
}
