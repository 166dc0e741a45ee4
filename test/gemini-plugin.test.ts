import { initializeLogger, type llm } from '@livekit/agents';
import { realtime } from '@livekit/agents-plugin-google';
import { AudioFrame } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { chunk, utterance } from '../shared/audio/generate.ts';
import { WAIT_MS } from './fixtures/gemini-client.ts';

/**
 * LiveKit's own Gemini plugin (`@livekit/agents-plugin-google`, which drives `@google/genai` its own way:
 * legacy `media` chunks, `audio/pcm` without a rate, chat context as clientContent) works unchanged.
 */
describe('Gemini Live emulator: @livekit/agents-plugin-google RealtimeModel', () => {
  let emu: GeminiEmulator;
  let session: llm.RealtimeSession | undefined;

  beforeAll(async () => {
    initializeLogger({ pretty: false, level: 'silent' });
    emu = await start({ apiKey: 'plugin-key', pacing: 4 });
  });
  afterAll(async () => {
    await session?.close();
    await emu.close();
  });

  it('speech in → transcript, generation with 24 kHz audio out', async () => {
    const model = new realtime.RealtimeModel({ apiKey: 'plugin-key', httpOptions: { baseUrl: emu.url } });
    session = model.session();
    const errors: string[] = [];
    session.on('error', (ev: { error: Error }) => errors.push(ev.error.message));
    const transcript = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no input transcription')), WAIT_MS);
      session!.on('input_audio_transcription_completed', (ev: { transcript: string; isFinal: boolean }) => {
        if (!ev.isFinal) return;
        clearTimeout(timer);
        resolve(ev.transcript);
      });
    });
    const audio = new Promise<{ samples: number; rate: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no generation')), WAIT_MS);
      session!.on('generation_created', async (ev: llm.GenerationCreatedEvent) => {
        let samples = 0;
        let rate = 0;
        for await (const message of ev.messageStream) {
          for await (const frame of message.audioStream) {
            samples += frame.samplesPerChannel;
            rate = frame.sampleRate;
          }
        }
        clearTimeout(timer);
        resolve({ samples, rate });
      });
    });
    await emu.nextSession();
    for (const c of chunk(utterance(48_000, { speech: 1, trail: 0.8 }), 48_000, 20)) {
      session.pushAudio(new AudioFrame(c.slice(), 48_000, 1, c.length));
    }
    expect(await transcript).toBe('[speech 1.0s]');
    const out = await audio;
    expect(out.rate).toBe(24_000);
    expect(out.samples / 24_000).toBeGreaterThan(0.9);
    expect(out.samples / 24_000).toBeLessThan(1.2);
    const stats = emu.stats()[0]!;
    expect(stats.audioInSeconds).toBeGreaterThan(1.7);
    expect(stats.turns).toBe(1);
    expect(errors).toEqual([]);
  });
});
