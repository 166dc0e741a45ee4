import { ActivityHandling, EndSensitivity, type LiveConnectConfig, StartSensitivity } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { type Pacing, start } from '../emulators/gemini-live/index.ts';
import { silence, speechLike, utterance } from '../shared/audio/generate.ts';
import { concatPcm16, pcm16ToBase64 } from '../shared/audio/pcm.ts';
import {
  concatChunks,
  connect,
  emulatorPerTest,
  type Recorder,
  sendPcm,
  textOf,
} from './fixtures/gemini-client.ts';

const RATE = 16_000;

/** Activity detection, barge-in and manual activity, all through the real SDK. */
describe('Gemini Live emulator: VAD, interruption, manual activity', () => {
  const gem = emulatorPerTest();

  async function session(
    config: LiveConnectConfig = {},
    pacing: Pacing = Number.POSITIVE_INFINITY,
    options: Parameters<typeof start>[0] = {},
  ) {
    gem.emu = await start({ pacing, ...options });
    const r = await connect(gem.emu.url, { config: { inputAudioTranscription: {}, ...config } });
    gem.open.push(r);
    return r;
  }

  const transcripts = (r: Recorder) =>
    r.messages
      .filter((m) => m.serverContent?.inputTranscription)
      .map((m) => m.serverContent!.inputTranscription!.text);

  it('barge-in: speech while the model talks sends interrupted and turnComplete, then answers', async () => {
    const r = await session({}, 'realtime');
    sendPcm(r.session, utterance(RATE, { speech: 2, trail: 0.6 }), RATE);
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    sendPcm(r.session, utterance(RATE, { lead: 0, speech: 0.5, trail: 0.6, seed: 7 }), RATE);
    const interrupted = await r.waitFor((m) => m.serverContent?.interrupted === true);
    const at = r.messages.indexOf(interrupted);
    expect(r.messages[at + 1]?.serverContent?.turnComplete).toBe(true);
    expect(r.messages.slice(0, at).some((m) => m.serverContent?.generationComplete)).toBe(false);
    const first = concatChunks(r.audioChunks(0, at));
    expect(first.length / 24_000).toBeLessThan(1.9);
    await r.turnComplete(2);
    expect(transcripts(r)).toEqual(['[speech 2.0s]', '[speech 0.5s]']);
    const stats = gem.emu!.stats()[0]!;
    expect(stats.interruptions).toBe(1);
    expect(stats.turnLog.map((t) => t.interrupted)).toEqual([true, false]);
  });

  it('turnCompleteAfterPlayback: generation runs ahead, barge-in during playback still interrupts', async () => {
    const r = await session({}, Number.POSITIVE_INFINITY, { turnCompleteAfterPlayback: true });
    r.session.sendRealtimeInput({
      text: 'please give me a rather long answer so that playback takes a while',
    });
    const generated = await r.waitFor((m) => m.serverContent?.generationComplete === true);
    sendPcm(r.session, utterance(RATE, { lead: 0, speech: 0.5, trail: 0.6 }), RATE);
    const interrupted = await r.waitFor((m) => m.serverContent?.interrupted === true);
    expect(r.messages.indexOf(interrupted)).toBeGreaterThan(r.messages.indexOf(generated));
    expect(
      r.messages.slice(0, r.messages.indexOf(interrupted)).some((m) => m.serverContent?.turnComplete),
    ).toBe(false);
    await r.turnComplete(2);
    const [first, second] = gem.emu!.stats()[0]!.turnLog;
    expect(first!.interrupted).toBe(true);
    // The echo (0.5 s) was generated at once but its turn lasted as long as its playback.
    expect(second!.completedAt! - second!.firstResponseAt!).toBeGreaterThan(450);
  });

  it('clientContent interrupts generation even with NO_INTERRUPTION', async () => {
    const r = await session(
      { realtimeInputConfig: { activityHandling: ActivityHandling.NO_INTERRUPTION } },
      2, // the first answer (~3 s of speech) leaves a 1.5 s window to interrupt it
    );
    r.session.sendRealtimeInput({ text: 'talk for a while please, a few seconds at least' });
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    r.session.sendClientContent({ turns: [{ role: 'user', parts: [{ text: 'stop' }] }], turnComplete: true });
    await r.waitFor((m) => m.serverContent?.interrupted === true);
    await r.turnComplete(2);
    expect(transcripts(r)).toEqual([]);
    expect(gem.emu!.stats()[0]!.turnLog.map((t) => [t.trigger, t.interrupted])).toEqual([
      ['text', true],
      ['clientContent', false],
    ]);
  });

  it('NO_INTERRUPTION: speech during the answer waits for the next turn', async () => {
    const r = await session(
      { realtimeInputConfig: { activityHandling: ActivityHandling.NO_INTERRUPTION } },
      'realtime',
    );
    sendPcm(r.session, utterance(RATE, { speech: 1, trail: 0.6 }), RATE);
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    sendPcm(r.session, utterance(RATE, { lead: 0, speech: 0.5, trail: 0.6, seed: 3 }), RATE);
    await r.turnComplete(2);
    expect(r.messages.some((m) => m.serverContent?.interrupted)).toBe(false);
    expect(r.messages.filter((m) => m.serverContent?.generationComplete)).toHaveLength(2);
    expect(transcripts(r)).toEqual(['[speech 1.0s]', '[speech 0.5s]']);
  });

  it('start sensitivity: LOW ignores quiet speech that HIGH hears', async () => {
    const quiet = utterance(RATE, { speech: 1.5, trail: 0.7, amplitude: 0.04 });
    const loud = utterance(RATE, { speech: 0.5, trail: 0.7, amplitude: 0.4 });
    let r = await session({
      realtimeInputConfig: {
        automaticActivityDetection: { startOfSpeechSensitivity: StartSensitivity.START_SENSITIVITY_LOW },
      },
    });
    sendPcm(r.session, concatPcm16([quiet, loud]), RATE);
    await r.turnComplete(1);
    expect(transcripts(r)).toEqual(['[speech 0.5s]']);
    r.session.close();
    await gem.emu!.close();
    r = await session({
      realtimeInputConfig: {
        automaticActivityDetection: { startOfSpeechSensitivity: StartSensitivity.START_SENSITIVITY_HIGH },
        activityHandling: ActivityHandling.NO_INTERRUPTION,
      },
    });
    sendPcm(r.session, concatPcm16([quiet, loud]), RATE);
    await r.turnComplete(2);
    expect(transcripts(r)).toEqual(['[speech 1.5s]', '[speech 0.5s]']);
  });

  it('silenceDurationMs decides whether a pause splits an utterance', async () => {
    const a = speechLike(0.6, RATE, { seed: 1 });
    const b = speechLike(0.6, RATE, { seed: 2 });
    const paused = concatPcm16([silence(0.1, RATE), a, silence(0.4, RATE), b, silence(1.5, RATE)]);
    let r = await session({ realtimeInputConfig: { activityHandling: ActivityHandling.NO_INTERRUPTION } });
    sendPcm(r.session, paused, RATE);
    await r.turnComplete(1);
    expect(transcripts(r)).toEqual(['[speech 1.6s]']);
    r.session.close();
    await gem.emu!.close();
    r = await session({
      realtimeInputConfig: {
        activityHandling: ActivityHandling.NO_INTERRUPTION,
        automaticActivityDetection: {
          silenceDurationMs: 200,
          endOfSpeechSensitivity: EndSensitivity.END_SENSITIVITY_LOW,
        },
      },
    });
    sendPcm(r.session, paused, RATE);
    await r.turnComplete(2);
    expect(transcripts(r)).toEqual(['[speech 0.6s]', '[speech 0.6s]']);
  });

  it('prefixPaddingMs: a short click is not speech when more padding is required', async () => {
    const click = concatPcm16([speechLike(0.05, RATE), silence(1, RATE)]);
    const speech = utterance(RATE, { lead: 0, speech: 0.5, trail: 0.7 });
    const r = await session({
      realtimeInputConfig: { automaticActivityDetection: { prefixPaddingMs: 150 } },
    });
    sendPcm(r.session, concatPcm16([click, speech]), RATE);
    await r.turnComplete(1);
    expect(transcripts(r)).toEqual(['[speech 0.5s]']);
    expect(gem.emu!.stats()[0]!.speechStarts).toHaveLength(1);
  });

  it('audioStreamEnd ends a running utterance without waiting for silence', async () => {
    const r = await session();
    sendPcm(r.session, speechLike(0.8, RATE), RATE);
    r.session.sendRealtimeInput({ audioStreamEnd: true });
    await r.turnComplete(1);
    expect(transcripts(r)).toEqual(['[speech 0.8s]']);
  });

  it('manual activity: only audio between activityStart and activityEnd is a turn; activityStart barges in', async () => {
    const r = await session(
      { realtimeInputConfig: { automaticActivityDetection: { disabled: true } } },
      'realtime',
    );
    // Outside an activity, audio is not a turn even with trailing silence.
    sendPcm(r.session, utterance(RATE, { speech: 0.5, trail: 1 }), RATE);
    r.session.sendRealtimeInput({ activityStart: {} });
    sendPcm(r.session, speechLike(1.5, RATE), RATE);
    r.session.sendRealtimeInput({ activityEnd: {} });
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    r.session.sendRealtimeInput({ activityStart: {} });
    await r.waitFor((m) => m.serverContent?.interrupted === true);
    r.session.sendRealtimeInput({
      audio: { data: pcm16ToBase64(speechLike(0.3, RATE)), mimeType: `audio/pcm;rate=${RATE}` },
    });
    r.session.sendRealtimeInput({ activityEnd: {} });
    await r.turnComplete(2);
    expect(transcripts(r)).toEqual(['[speech 1.5s]', '[speech 0.3s]']);
    expect(textOf(r.messages, 'inputTranscription')).not.toContain('0.5s');
  });
});
