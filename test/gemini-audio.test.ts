import { describe, expect, it } from 'vitest';
import {
  activeFrames,
  base64ToPcm16,
  bytesToPcm16,
  chunk,
  concatPcm16,
  decodeWav,
  encodeWav,
  estimateFrequency,
  floatToPcm16,
  noise,
  parsePcmMimeType,
  pcm16ToBase64,
  pcm16ToBytes,
  pcm16ToFloat,
  resamplePcm16,
  rms,
  rmsDbfs,
  StreamResampler,
  silence,
  speechLike,
  tone,
  utterance,
} from '../shared/audio/index.ts';

/** The shared audio helpers (shared/audio) the emulators, agent and tests rely on. */
describe('shared/audio', () => {
  it('PCM16 round-trips through bytes, base64 and floats', () => {
    const s = Int16Array.from([0, 1, -1, 32767, -32768, 1234]);
    expect(bytesToPcm16(pcm16ToBytes(s))).toEqual(s);
    expect(base64ToPcm16(pcm16ToBase64(s))).toEqual(s);
    expect(floatToPcm16(pcm16ToFloat(s))).toEqual(Int16Array.from([0, 1, -1, 32767, -32768, 1234]));
    expect(floatToPcm16([2, -2])).toEqual(Int16Array.from([32767, -32768]));
    // little-endian on the wire
    expect([...pcm16ToBytes(Int16Array.from([0x0102]))]).toEqual([0x02, 0x01]);
    // odd offsets (pooled Buffers) are fine
    const odd = Buffer.concat([Buffer.from([9]), Buffer.from(pcm16ToBytes(s))]).subarray(1);
    expect(bytesToPcm16(odd)).toEqual(s);
  });

  it('parses PCM mime types', () => {
    expect(parsePcmMimeType('audio/pcm;rate=24000')).toBe(24_000);
    expect(parsePcmMimeType('audio/pcm; rate=8000')).toBe(8_000);
    expect(parsePcmMimeType('audio/pcm')).toBe(16_000);
    expect(parsePcmMimeType('audio/opus')).toBeUndefined();
    expect(parsePcmMimeType('audio/pcm;rate=abc')).toBeUndefined();
  });

  it('generators: tone level and pitch, silence, seeded noise and speech', () => {
    const t = tone(0.5, 16_000, { frequency: 440, amplitude: 0.5 });
    expect(t.length).toBe(8000);
    expect(rms(t)).toBeCloseTo(0.5 / Math.SQRT2, 2);
    expect(estimateFrequency(t, 16_000)).toBeCloseTo(440, 0);
    expect(rmsDbfs(silence(0.1, 16_000))).toBe(Number.NEGATIVE_INFINITY);
    expect(noise(0.1, 16_000, 0.1, 5)).toEqual(noise(0.1, 16_000, 0.1, 5));
    expect(noise(0.1, 16_000, 0.1, 5)).not.toEqual(noise(0.1, 16_000, 0.1, 6));
    const voice = speechLike(1, 16_000, { f0: 150 });
    expect(estimateFrequency(voice.subarray(2000, 5200), 16_000)).toBeCloseTo(150, -1);
    // voiced all the way through (one utterance for an energy VAD), silent around it in utterance()
    expect(activeFrames(voice.subarray(160, -160), 16_000, 20, -45).every(Boolean)).toBe(true);
    const u = utterance(16_000, { lead: 0.2, speech: 0.5, trail: 0.3 });
    const active = activeFrames(u, 16_000, 100, -45);
    expect(active).toEqual([false, false, true, true, true, true, true, false, false, false]);
  });

  it("speech has energy where LiveKit's BarVisualizer looks (2–4.7 kHz), as real speech does", () => {
    // The visualiser averages an analyser's bins 100–200 (fftSize 2048) on a −100…−10 dB scale: a
    // voice without breath there (the harmonics stop at ~1 kHz) leaves its bars on the floor.
    const rate = 48_000;
    const voice = speechLike(1, rate, { f0: 140, seed: 7 }).subarray(12_000, 12_000 + 2048);
    /** Level of one frequency in the window, in dB of full scale per bin (Hann window, like the analyser). */
    const level = (hz: number) => {
      let re = 0;
      let im = 0;
      for (let i = 0; i < voice.length; i++) {
        const v = (voice[i]! / 32768) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / voice.length));
        re += v * Math.cos((2 * Math.PI * hz * i) / rate);
        im -= v * Math.sin((2 * Math.PI * hz * i) / rate);
      }
      return 20 * Math.log10(Math.hypot(re, im) / voice.length);
    };
    for (const hz of [2_400, 3_000, 3_600, 4_300]) expect(level(hz), `${hz} Hz`).toBeGreaterThan(-90);
    // Still a voice: the fundamental stands far above the breath.
    expect(level(140)).toBeGreaterThan(level(3_000) + 30);
  });

  it('resamples preserving duration and pitch, in one go or streamed', () => {
    const t = tone(1, 16_000, { frequency: 300 });
    for (const rate of [8_000, 24_000, 44_100, 48_000]) {
      const out = resamplePcm16(t, 16_000, rate);
      expect(out.length).toBe(rate);
      expect(estimateFrequency(out, rate)).toBeCloseTo(300, 0);
    }
    const r = new StreamResampler(16_000, 48_000);
    const streamed = concatPcm16(chunk(t, 16_000, 10).map((c) => r.push(c)));
    expect(Math.abs(streamed.length - 48_000)).toBeLessThanOrEqual(3);
    expect(estimateFrequency(streamed, 48_000)).toBeCloseTo(300, 0);
    // no clicks at block edges: neighbouring samples stay close for a 300 Hz tone
    let maxStep = 0;
    for (let i = 1; i < streamed.length; i++)
      maxStep = Math.max(maxStep, Math.abs(streamed[i]! - streamed[i - 1]!));
    expect(maxStep).toBeLessThan(600);
  });

  it('WAV encode/decode round-trips and rejects other formats', () => {
    const s = speechLike(0.2, 24_000);
    const wav = encodeWav(s, 24_000);
    expect(wav.length).toBe(44 + s.length * 2);
    expect(decodeWav(wav)).toEqual({ samples: s, sampleRate: 24_000 });
    const float = wav.slice();
    new DataView(float.buffer).setUint16(20, 3, true);
    expect(() => decodeWav(float)).toThrow(/unsupported WAV/);
    expect(() => decodeWav(new Uint8Array(10))).toThrow(/not a RIFF/);
  });
});
