import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveFatalError } from '../agent/live/errors.ts';
import type { HistoryTurn } from '../agent/live/input.ts';
import { type LiveInputRefusal, LiveSession, type LiveSessionOptions } from '../agent/live/session.ts';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { chunk, silence, speechLike, utterance } from '../shared/audio/generate.ts';

const MODEL = 'gemini-2.5-flash-native-audio-preview-12-2025';
const RATE = 16_000;

let emulator: GeminiEmulator | undefined;
const sessions: LiveSession[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) await s.aclose();
  await emulator?.close();
  emulator = undefined;
});

async function setup(
  emuOptions: Parameters<typeof start>[0] = {},
  sessionOptions: Partial<LiveSessionOptions> = {},
): Promise<{ emu: GeminiEmulator; live: LiveSession }> {
  emulator = await start({ pacing: 50, apiKey: 'good-key', ...emuOptions });
  const live = new LiveSession({
    apiKey: 'good-key',
    baseUrl: emulator.url,
    model: MODEL,
    config: { inputAudioTranscription: {}, outputAudioTranscription: {}, sessionResumption: {} },
    reconnectBackoffMs: 50,
    ...sessionOptions,
  });
  sessions.push(live);
  return { emu: emulator, live };
}

function send(live: LiveSession, pcm: Int16Array): void {
  for (const c of chunk(pcm, RATE, 20)) live.sendAudio(c, RATE);
}

/** Collects events of one kind until `predicate` holds. */
function waitFor<T>(
  live: LiveSession,
  event: 'inputTranscription' | 'outputTranscription',
  predicate: (t: string) => boolean,
): Promise<string> {
  return new Promise((resolve) => {
    const on = (t: string) => {
      if (predicate(t)) {
        live.off(event, on);
        resolve(t);
      }
    };
    live.on(event, on);
  }) as Promise<string> & T;
}

/** The whole output transcript of the next model turn. */
function reply(live: LiveSession): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onText = (t: string) => {
      text += t;
    };
    live.on('outputTranscription', onText);
    live.once('turnComplete', () => {
      live.off('outputTranscription', onText);
      resolve(text);
    });
  });
}

describe('LiveSession against the Gemini emulator', () => {
  it('connects once, hears audio and answers with 24 kHz speech and transcripts', async () => {
    const { emu, live } = await setup();
    const audio: number[] = [];
    live.on('audio', (pcm, rate) => {
      expect(rate).toBe(24_000);
      audio.push(pcm.length);
    });
    const heard = waitFor(live, 'inputTranscription', () => true);
    await live.start();
    send(live, utterance(RATE, { lead: 0.2, speech: 1.0, trail: 1.0 }));
    expect(await heard).toBe('[speech 1.0s]');
    await once(live, 'turnComplete');
    expect(audio.reduce((a, b) => a + b, 0)).toBeGreaterThan(24_000 * 0.8);
    expect(emu.stats()).toHaveLength(1);
  });

  it('goAway mid-utterance: migrates with the handle and the resumed session hears every sample', async () => {
    const { emu, live } = await setup();
    await live.start();
    // A first turn so that the conversation has context and a handle after it.
    const first = waitFor(live, 'inputTranscription', () => true);
    send(live, utterance(RATE, { speech: 0.8, trail: 1.0 }));
    await first;
    await once(live, 'turnComplete');
    await expect.poll(() => live.handle).toBeDefined();
    const [server] = emu.sessions();
    const resumedReady = new Promise<{ resumed: boolean }>((r) => live.on('ready', r));

    // 1.6 s utterance; goAway arrives after its first 0.6 s.
    const speech = speechLike(1.6, RATE, { seed: 7 });
    const lead = silence(0.3, RATE);
    send(live, lead);
    send(live, speech.subarray(0, Math.round(0.6 * RATE)));
    const gone = once(live, 'goAway');
    server!.goAway(3000);
    await gone;
    send(live, speech.subarray(Math.round(0.6 * RATE)));
    send(live, silence(1.0, RATE));

    const heard = await waitFor(live, 'inputTranscription', () => true);
    expect(heard).toBe('[speech 1.6s]');
    expect((await resumedReady).resumed).toBe(true);

    const stats = emu.stats();
    expect(stats).toHaveLength(2);
    const [old, fresh] = stats;
    expect(fresh!.resumed).toBe(true);
    expect(fresh!.sessionId).toBe(old!.sessionId);
    // Everything sent after the last handle reached the connection that holds the context.
    const sinceHandle = (lead.length + speech.length + RATE * 1.0) / RATE;
    await expect.poll(() => emu.stats()[1]!.audioInSeconds).toBeCloseTo(sinceHandle, 2);
    expect(live.stats.droppedAudioSamples).toBe(0);
    // No chat-context replay: the resumed connection got no client content.
    expect(fresh!.textInputs).toBe(0);
  });

  it('goAway during a reply lets the reply finish, then migrates', async () => {
    const say = 'This is a fairly long answer that must not be cut in the middle by the migration.';
    const { emu, live } = await setup({
      pacing: 5,
      scenario: { turns: [{ steps: [{ goAway: { timeLeftMs: 8000 } }, { say }] }] },
    });
    await live.start();
    let interrupted = 0;
    live.on('interrupted', () => interrupted++);
    const ready = new Promise<{ resumed: boolean }>((r) => live.once('ready', r));
    live.sendText('tell me something');
    expect((await reply(live)).replace(/\s+/g, ' ').trim()).toBe(say);
    expect(await ready).toMatchObject({ resumed: true });
    expect(interrupted).toBe(0);
    expect(emu.stats()[0]!.interruptions).toBe(0);
  });

  it('recovers from an abnormal close (1006) and keeps the conversation', async () => {
    const { emu, live } = await setup();
    await live.start();
    live.sendText('hello');
    expect(await reply(live)).toContain('turn 1 of this conversation');
    await expect.poll(() => live.handle).toBeDefined();
    const reconnecting = once(live, 'reconnecting');
    emu.sessions()[0]!.terminate();
    const [info] = await reconnecting;
    expect(info).toMatchObject({ reason: 'closed', code: 1006 });
    await once(live, 'ready');
    live.sendText('again');
    expect(await reply(live)).toContain('turn 2 of this conversation');
    expect(emu.stats()[1]!.resumed).toBe(true);
  });

  it('recovers from a server 1011 close', async () => {
    const { emu, live } = await setup();
    await live.start();
    await expect.poll(() => live.handle).toBeDefined();
    emu.sessions()[0]!.close(1011, 'Internal error encountered.');
    const [ready] = await once(live, 'ready');
    expect(ready).toMatchObject({ resumed: true });
    expect(live.state).toBe('open');
  });

  it('a bad key is a typed fatal event and a rejected start, not a crash', async () => {
    const { live } = await setup({}, { apiKey: 'wrong' });
    const fatal = once(live, 'fatal');
    await expect(live.start()).rejects.toBeInstanceOf(LiveFatalError);
    const [err] = await fatal;
    expect(err).toMatchObject({ kind: 'auth', code: 1007 });
    expect(String(err.message)).not.toContain('wrong');
    expect(live.state).toBe('closed');
  });

  it('an unknown model is a typed fatal event', async () => {
    const { live } = await setup({}, { model: 'gemini-nope' });
    const fatal = once(live, 'fatal');
    await expect(live.start()).rejects.toMatchObject({ kind: 'model', code: 1008 });
    await fatal;
  });

  it('an expired handle falls back to a fresh session and says so', async () => {
    const { emu, live } = await setup();
    await live.start();
    await expect.poll(() => live.handle).toBeDefined();
    emu.expireResumptionHandles();
    const lost = once(live, 'contextLost');
    emu.sessions()[0]!.terminate();
    await lost;
    const [ready] = await once(live, 'ready');
    expect(ready).toMatchObject({ resumed: false });
  });

  it('3.x: a refused handle (1007 there), of a dead job or its own, starts a fresh session seeded with the tail, declared as initial history', async () => {
    const tail: HistoryTurn[] = [
      { role: 'user', text: 'the code is 42' },
      { role: 'model', text: 'Noted.' },
    ];
    const later: HistoryTurn[] = [
      ...tail,
      { role: 'user', text: 'and the code?' },
      { role: 'model', text: '42.' },
    ];
    const { emu, live } = await setup(
      {},
      { model: 'gemini-3.8-live', resumeHandle: 'rh-of-a-dead-job', seed: tail, reseed: () => later },
    );
    const rebuilt = once(live, 'contextRebuilt');
    await live.start();
    expect(await rebuilt).toEqual([{ turns: 2 }]);
    expect(emu.stats().at(-1)!.setup?.historyConfig).toEqual({ initialHistoryInClientContent: true });
    live.sendText('and the code?');
    expect(await reply(live)).toContain(
      'That is turn 2 of this conversation. Before that: "the code is 42".',
    );
    // Its own handle, refused once expired (as after 3.8's session deadline).
    await expect.poll(() => live.handle).toBeDefined();
    emu.expireResumptionHandles();
    const again = once(live, 'contextRebuilt');
    emu.sessions().at(-1)!.terminate();
    expect(await again).toEqual([{ turns: 4 }]);
    live.sendText('still there?');
    expect(await reply(live)).toContain('That is turn 3 of this conversation. Before that: "and the code?".');
    expect(live.state).toBe('open');
  });

  it.each([
    ['2.x: the turns with their roles', MODEL],
    ['3.x: as user-role notes (model turns are only declared initial history there)', 'gemini-3.8-live'],
  ])(
    'resumed with a handle older than the last turns (%s): told them before any input, it answers the one it owed only when asked to',
    async (_, model) => {
      const { emu, live } = await setup({}, { model });
      await live.start();
      const first = reply(live);
      live.sendText('the code is 42');
      await first;
      await expect.poll(() => live.handle).toBeDefined();
      const handle = live.handle!;
      await live.aclose();
      // What the handle does not hold: the user's question and the reply a crash cut.
      const catchUp: HistoryTurn[] = [
        { role: 'user', text: '[alice] and the colour is blue?' },
        { role: 'model', text: 'The colour is', cut: true },
      ];
      const resumed = (talking: boolean) => {
        const s = new LiveSession({
          apiKey: 'good-key',
          baseUrl: emu.url,
          model,
          config: { inputAudioTranscription: {}, outputAudioTranscription: {}, sessionResumption: {} },
          resumeHandle: handle,
          catchUp,
          answerCatchUp: () => !talking,
        });
        sessions.push(s);
        return s;
      };
      // Nobody talking: the model goes on with the answer it owed, once.
      const back = resumed(false);
      const caught = once(back, 'caughtUp');
      const owed = reply(back);
      await back.start();
      expect(await caught).toEqual([{ turns: 2, answered: true }]);
      expect(await owed).toBe(
        'You said "[alice] and the colour is blue?". That is turn 2 of this conversation. Before that: "the code is 42".',
      );
      expect(emu.stats().at(-1)!.turnLog).toHaveLength(1);
      // (The service refuses a resume while another connection of the session is open.)
      await back.aclose();
      await expect.poll(() => emu.stats().at(-1)!.closedAt).toBeDefined();
      // Someone talking: context only. Input sent before the connection is up comes after it.
      const quiet = resumed(true);
      quiet.sendText('what did I ask?');
      const answer = reply(quiet);
      const caughtQuietly = once(quiet, 'caughtUp');
      await quiet.start();
      expect(await caughtQuietly).toEqual([{ turns: 2, answered: false }]);
      expect(await answer).toMatch(
        /^You said "what did I ask\?"\. .* Before that: "\[alice\] and the colour is blue\?"\.$/,
      );
      expect(emu.stats().at(-1)!.turnLog).toHaveLength(1);
      expect(emu.stats().every((s) => s.closeCode !== 1007)).toBe(true);
    },
  );

  it('buffers input while disconnected and replays it in order', async () => {
    const { emu, live } = await setup();
    await live.start();
    await expect.poll(() => live.handle).toBeDefined();
    emu.sessions()[0]!.terminate();
    await once(live, 'reconnecting');
    // Sent while no connection exists.
    send(live, utterance(RATE, { lead: 0.1, speech: 1.2, trail: 1.0 }));
    const heard = await waitFor(live, 'inputTranscription', () => true);
    expect(heard).toBe('[speech 1.2s]');
  });

  it('aborting the signal closes the session', async () => {
    const ac = new AbortController();
    const { emu, live } = await setup({}, { signal: ac.signal });
    await live.start();
    const closed = once(live, 'closed');
    ac.abort();
    await closed;
    await expect.poll(() => emu.sessions().length).toBe(0);
  });

  it('keeps sending user audio while a blocking tool call is pending', async () => {
    const { emu, live } = await setup(
      {
        scenario: {
          turns: [{ steps: [{ toolCall: { name: 'slow', args: {} } }, { say: 'done {{result}}' }] }],
        },
      },
      {
        config: {
          inputAudioTranscription: {},
          outputAudioTranscription: {},
          sessionResumption: {},
          tools: [{ functionDeclarations: [{ name: 'slow', description: 'takes a while' }] }],
        },
      },
    );
    await live.start();
    const call = once(live, 'toolCall');
    live.sendText('go');
    const [[fc]] = await call;
    const before = emu.stats()[0]!.audioInSeconds;
    send(live, silence(1.0, RATE));
    await expect.poll(() => emu.stats()[0]!.audioInSeconds).toBeCloseTo(before + 1.0, 2);
    const answer = reply(live);
    live.sendToolResponse([{ id: fc!.id, name: 'slow', response: { output: 'ok' } }]);
    expect(await answer).toContain('done');
    expect(emu.stats()).toHaveLength(1);
  });

  it('an input the service refuses as too large (1009) is reported, never replayed, and the rest goes on', async () => {
    // The issue: a 17 MB chat message closed the socket with 1009, the replay sent it again, then it was lost.
    const { emu, live } = await setup({ limits: { maxPayloadBytes: 64 * 1024 } });
    await live.start();
    await expect.poll(() => live.handle).toBeDefined();
    const refused: LiveInputRefusal[] = [];
    live.on('inputRefused', (r) => refused.push(r));
    const speech = speechLike(1.2, RATE, { seed: 3 });
    send(live, silence(0.2, RATE));
    send(live, speech.subarray(0, Math.round(0.6 * RATE)));
    // Under the session's own (default) limit, so it goes out and the service closes the socket on it.
    expect(live.sendText('x'.repeat(100_000))).toBe(true);
    send(live, speech.subarray(Math.round(0.6 * RATE)));
    send(live, silence(1.0, RATE));

    // Every sample around the refused message reached the model, on the resumed connection.
    expect(await waitFor(live, 'inputTranscription', () => true)).toBe('[speech 1.2s]');
    await once(live, 'turnComplete');
    expect(refused).toEqual([
      {
        kind: 'text',
        by: 'service',
        bytes: 100_000 + JSON.stringify({ realtimeInput: { text: '' } }).length,
        limit: 100_000 + JSON.stringify({ realtimeInput: { text: '' } }).length - 1,
        message: expect.stringContaining('1009'),
      },
    ]);
    const stats = emu.stats();
    expect(stats).toHaveLength(2);
    expect(stats[1]!.resumed).toBe(true);
    expect(live.stats.refusedInputs).toBe(1);

    // That size is known to be refused now: it is not sent again, the connection stays.
    expect(live.sendContext('y'.repeat(100_000), true)).toBe(false);
    expect(refused[1]).toMatchObject({ kind: 'content', by: 'client' });
    live.sendText('still there?');
    expect(await reply(live)).toContain('this conversation');
    expect(emu.stats()).toHaveLength(2);
  });

  it('an input over maxMessageBytes is refused before it is sent; the connection stays up', async () => {
    const { emu, live } = await setup(
      { limits: { maxPayloadBytes: 64 * 1024 } },
      { maxMessageBytes: 32 * 1024 },
    );
    await live.start();
    const refusal = once(live, 'inputRefused');
    expect(live.sendText('x'.repeat(40_000))).toBe(false);
    const [r] = await refusal;
    expect(r).toMatchObject({ kind: 'text', by: 'client', limit: 32 * 1024 });
    expect(r.bytes).toBeGreaterThan(40_000);
    expect(r.message).not.toContain('xxx');
    // A tool result or a video frame over the limit is refused the same way.
    expect(live.sendVideo(new Uint8Array(30 * 1024))).toBe(false);
    expect(live.sendVideo(new Uint8Array(1024))).toBe(true);
    live.sendText('hello');
    expect(await reply(live)).toContain('turn 1 of this conversation');
    expect(emu.stats()).toHaveLength(1);
    expect(emu.stats()[0]).toMatchObject({ textInputs: 1, videoFrames: 1 });
    expect(live.stats.refusedInputs).toBe(2);
  });

  it('a setup the service refuses as too large (1009) is a typed fatal error, not a retry loop', async () => {
    const { live } = await setup(
      { limits: { maxPayloadBytes: 4 * 1024 } },
      { config: { systemInstruction: 'Be brief. '.repeat(1000), sessionResumption: {} } },
    );
    const fatal = once(live, 'fatal');
    await expect(live.start()).rejects.toMatchObject({ kind: 'invalid', code: 1009 });
    await fatal;
    expect(live.stats.connections).toBe(0);
  });
});
