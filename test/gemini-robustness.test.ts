import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { utterance } from '../shared/audio/generate.ts';
import { connect, MODEL, sendPcm, WAIT_MS } from './fixtures/gemini-client.ts';

const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Hostile or careless clients cannot crash the server, and sessions leave nothing behind. */
describe('Gemini Live emulator: robustness', () => {
  let emu: GeminiEmulator;

  beforeAll(async () => {
    emu = await start({ pacing: 8, limits: { maxPayloadBytes: 256 * 1024 } });
  });
  afterAll(async () => {
    await emu.close();
  });

  /**
   * Sends `frames` (then a text turn) on a raw socket. Resolves with the server's close code, or
   * 'answered' once a turn completes (then closes normally).
   */
  function rawSession(frames: (string | Buffer)[]): Promise<number | 'answered'> {
    return new Promise((resolve) => {
      const ws = new WebSocket(
        `${emu.url.replace('http', 'ws')}//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=x`,
      );
      let answered = false;
      ws.on('open', () => {
        for (const f of frames) ws.send(f);
        ws.send(JSON.stringify({ realtimeInput: { text: 'are you still there?' } }));
      });
      ws.on('message', (data) => {
        if (!answered && JSON.parse(data.toString()).serverContent?.turnComplete) {
          answered = true;
          ws.close(1000);
        }
      });
      ws.on('error', () => {});
      ws.on('close', (code) => resolve(answered ? 'answered' : code));
    });
  }

  it('survives a barrage of junk, odd and oversized frames, each answered properly', async () => {
    const setup = JSON.stringify({ setup: { model: `models/${MODEL}` } });
    const audio = (data: string, mimeType: string) =>
      JSON.stringify({ realtimeInput: { audio: { data, mimeType } } });
    const cases: [(string | Buffer)[], number | 'answered'][] = [
      [['{'], 1007],
      [['null'], 1007],
      [['"string"'], 1007],
      [[Buffer.alloc(300 * 1024, 0x41)], 1009],
      [[setup, Buffer.from([0xc3, 0x28])], 1007],
      [[setup, JSON.stringify({ setup: { model: 123 } })], 1007],
      [[setup, audio('AAAA', 'audio/pcm;rate=1')], 1007],
      [[setup, audio('!!!not base64!!!', 'audio/pcm')], 'answered'],
      [[setup, audio('AAE', 'audio/pcm;rate=16000')], 'answered'],
      [[setup, JSON.stringify({ clientContent: { turns: [{ role: 'user', parts: [{}] }] } })], 'answered'],
      [
        [
          setup,
          JSON.stringify({ toolResponse: { functionResponses: [{ id: 'nope', response: { a: 1 } }] } }),
        ],
        'answered',
      ],
      [[setup, JSON.stringify({ realtimeInput: { text: 'x'.repeat(100_000) } })], 'answered'],
      [[setup, JSON.stringify({ contextUpdate: { anything: true } })], 'answered'],
    ];
    const outcomes = await Promise.all(cases.map(([frames]) => rawSession(frames)));
    expect(outcomes).toEqual(cases.map(([, expected]) => expected));
    // A client that vanishes mid-turn.
    const dropped = new WebSocket(
      `${emu.url.replace('http', 'ws')}/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent?key=x`,
    );
    dropped.on('error', () => {});
    dropped.on('message', () => dropped.terminate());
    dropped.on('open', () => {
      dropped.send(setup);
      dropped.send(JSON.stringify({ realtimeInput: { text: 'talk' } }));
    });
    await new Promise((res) => dropped.on('close', res));
    // The server still answers properly.
    const r = await connect(emu.url, { config: { outputAudioTranscription: {} } });
    sendPcm(r.session, utterance(16_000, { speech: 0.3, trail: 0.7 }), 16_000);
    await r.turnComplete();
    r.session.close();
    await r.closed;
  });

  it(
    'a session closed mid-turn leaves no timers or open sessions behind',
    async () => {
      // Wait for earlier connections to be fully gone first.
      await Promise.all(emu.sessions().map((s) => new Promise((res) => s.once('closed', res))));
      const baseline = timeouts();
      const r = await connect(emu.url, { config: { sessionResumption: {} } });
      sendPcm(r.session, utterance(16_000, { speech: 2, trail: 0.7 }), 16_000);
      await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
      // Lifetime, goAway and session-limit timers plus a pacing timer are running now.
      expect(timeouts()).toBeGreaterThan(baseline);
      const gone = new Promise((res) => emu.once('sessionClosed', res));
      r.session.close();
      await gone;
      await r.closed;
      expect(emu.sessions()).toHaveLength(0);
      // The pacing sleep is aborted asynchronously; give the loop a turn before counting.
      await new Promise((res) => setImmediate(res));
      expect(timeouts()).toBeLessThanOrEqual(baseline);
    },
    WAIT_MS * 2,
  );
});
