import { Modality } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { estimateFrequency, rms } from '../shared/audio/analyze.ts';
import { utterance } from '../shared/audio/generate.ts';
import {
  concatChunks,
  connect,
  connectError,
  modelText,
  type Recorder,
  sendPcm,
  textOf,
} from './fixtures/gemini-client.ts';

describe('Gemini Live emulator: setup, echo and text answers (SDK 3.x)', () => {
  let emu: GeminiEmulator;
  const open: Recorder[] = [];

  beforeAll(async () => {
    emu = await start({ apiKey: 'good-key', pacing: Number.POSITIVE_INFINITY });
  });
  afterAll(async () => {
    for (const r of open) r.session.close();
    await emu.close();
  });

  async function session(config = {}): Promise<Recorder> {
    const r = await connect(emu.url, { apiKey: 'good-key', config });
    open.push(r);
    return r;
  }

  it('answers setup with setupComplete', async () => {
    const r = await session();
    expect(r.session.setupComplete).toBeDefined();
    const stats = emu.stats().at(-1)!;
    expect(stats.model).toBe('gemini-2.5-flash-native-audio-preview-12-2025');
    expect(stats.apiVersion).toBe('v1');
    expect(stats.setup).toMatchObject({ model: 'models/gemini-2.5-flash-native-audio-preview-12-2025' });
  });

  it('refuses a wrong API key with 1007', async () => {
    const message = await connectError(emu.url, { apiKey: 'bad-key' });
    expect(message).toMatch(/code 1007\): API key not valid/);
  });

  it('refuses an unknown model with 1008', async () => {
    const message = await connectError(emu.url, { apiKey: 'good-key', model: 'gemini-0-nonsense' });
    expect(message).toMatch(/code 1008\): models\/gemini-0-nonsense is not found/);
  });

  it('refuses an unknown voice with 1007', async () => {
    const message = await connectError(emu.url, {
      apiKey: 'good-key',
      config: { speechConfig: { voiceConfig: { prebuiltVoiceConfig: { voiceName: 'Nobody' } } } },
    });
    expect(message).toMatch(/code 1007\): Voice Nobody/);
  });

  it('echoes an utterance back as 24 kHz audio with transcriptions and turn markers', async () => {
    const r = await session({
      responseModalities: [Modality.AUDIO],
      inputAudioTranscription: {},
      outputAudioTranscription: {},
    });
    sendPcm(r.session, utterance(16_000, { speech: 1.2, trail: 0.8, f0: 180 }), 16_000);
    const done = await r.turnComplete();
    const msgs = r.messages;
    const gen = msgs.findIndex((m) => m.serverContent?.generationComplete);
    const tc = msgs.indexOf(done);
    expect(gen).toBeGreaterThan(0);
    expect(gen).toBeLessThan(tc);
    expect(textOf(msgs, 'inputTranscription')).toMatch(/^\[speech 1\.[1-3]s\]$/);
    expect(textOf(msgs, 'outputTranscription')).toBe(textOf(msgs, 'inputTranscription'));
    const parts = msgs.flatMap((m) => m.serverContent?.modelTurn?.parts ?? []);
    expect(parts.every((p) => p.inlineData?.mimeType === 'audio/pcm;rate=24000')).toBe(true);
    const chunks = r.audioChunks();
    for (const c of chunks.slice(0, -1)) expect(c.length).toBe(960); // 40 ms at 24 kHz
    const audio = concatChunks(chunks);
    expect(audio.length / 24_000).toBeGreaterThan(1.1);
    expect(audio.length / 24_000).toBeLessThan(1.35);
    expect(rms(audio)).toBeGreaterThan(0.05);
    expect(estimateFrequency(audio.subarray(4800, 9600), 24_000)).toBeCloseTo(180, -1);
    expect(done.usageMetadata?.responseTokenCount).toBeGreaterThan(30);
    expect(done.usageMetadata?.promptTokenCount).toBeGreaterThan(30);
    expect(done.usageMetadata?.totalTokenCount).toBe(
      done.usageMetadata!.promptTokenCount! + done.usageMetadata!.responseTokenCount!,
    );
  });

  it('accepts any input rate (48 kHz) and stays silent on silence', async () => {
    const r = await session({ inputAudioTranscription: {} });
    sendPcm(r.session, new Int16Array(48_000), 48_000);
    sendPcm(r.session, utterance(48_000, { speech: 0.6, trail: 0.8 }), 48_000);
    await r.turnComplete();
    expect(textOf(r.messages, 'inputTranscription')).toMatch(/^\[speech 0\.[5-7]s\]$/);
    expect(r.messages.filter((m) => m.serverContent?.turnComplete)).toHaveLength(1);
    const stats = emu.stats().at(-1)!;
    expect(stats.audioInSeconds).toBeCloseTo(2.6, 1);
    expect(stats.speechEnds).toHaveLength(1);
    expect(stats.firstResponseBytes[0]).toBeGreaterThanOrEqual(stats.speechEnds[0]!);
  });

  it('answers realtime text with deterministic speech and transcript', async () => {
    const r = await session({ outputAudioTranscription: {} });
    r.session.sendRealtimeInput({ text: 'hello there' });
    await r.turnComplete();
    expect(textOf(r.messages, 'outputTranscription')).toBe(
      'You said "hello there". That is turn 1 of this conversation.',
    );
    expect(concatChunks(r.audioChunks()).length).toBeGreaterThan(24_000);
    r.session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'second' }] }],
      turnComplete: true,
    });
    await r.turnComplete(2);
    expect(textOf(r.messages, 'outputTranscription')).toContain('You said "second". That is turn 2');
  });

  it('writes text in TEXT modality', async () => {
    const r = await session({ responseModalities: [Modality.TEXT] });
    r.session.sendClientContent({ turns: 'what is up' });
    await r.turnComplete();
    expect(modelText(r.messages)).toBe('You said "what is up". That is turn 1 of this conversation.');
    expect(r.audioChunks()).toHaveLength(0);
  });
});
