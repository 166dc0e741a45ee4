import type { LiveServerMessage } from '@google/genai';
import { GoogleGenAI as GoogleGenAI2, type LiveServerMessage as LiveServerMessage2 } from 'genai2';
import { describe, expect, it } from 'vitest';
import { type EmulatorLimits, type Pacing, start } from '../emulators/gemini-live/index.ts';
import {
  type ConnectOptions,
  connect,
  connectError,
  emulatorPerTest,
  MODEL,
  type Recorder,
  textOf,
  Waiters,
} from './fixtures/gemini-client.ts';

/** Resumption, goAway and connection lifetime, session limits, usage and counters; SDK 2.x and 3.x. */
describe('Gemini Live emulator: session management', () => {
  const gem = emulatorPerTest();

  async function boot(limits: Partial<EmulatorLimits> = {}, pacing: Pacing = Number.POSITIVE_INFINITY) {
    gem.emu = await start({ pacing, limits });
    return gem.emu;
  }
  async function session(options: ConnectOptions['config'] = {}) {
    const r = await connect(gem.emu!.url, { config: { outputAudioTranscription: {}, ...options } });
    gem.open.push(r);
    return r;
  }
  const handles = (r: Recorder) =>
    r.messages.flatMap((m) =>
      m.sessionResumptionUpdate?.newHandle ? [m.sessionResumptionUpdate.newHandle] : [],
    );

  it('resumption: handles arrive at idle points and a resumed session keeps its conversation', async () => {
    await boot();
    const a = await session({ sessionResumption: {} });
    await a.waitFor((m) => m.sessionResumptionUpdate?.resumable === true);
    a.session.sendRealtimeInput({ text: 'one' });
    await a.turnComplete();
    const update = await a.waitFor((m) => m.sessionResumptionUpdate !== undefined, {
      from: a.messages.findIndex((m) => m.serverContent?.turnComplete),
    });
    const handle = update.sessionResumptionUpdate!.newHandle!;
    expect(handles(a)).toHaveLength(2);
    a.session.close();
    await a.closed;

    const b = await session({ sessionResumption: { handle } });
    b.session.sendRealtimeInput({ text: 'two' });
    await b.turnComplete();
    expect(textOf(b.messages, 'outputTranscription')).toBe(
      'You said "two". That is turn 2 of this conversation. Before that: "one".',
    );
    const [sa, sb] = gem.emu!.stats();
    expect(sb!.resumed).toBe(true);
    expect(sb!.sessionId).toBe(sa!.sessionId);
    expect(sa!.closeCode).toBe(1005); // the SDK closes without a status code
  });

  it('a handle the service will not resume closes the setup: 1008 on 2.5, 1007 on 3.x, 1007 for another model, refused for another key, 1011 while the old connection of the session is open', async () => {
    await boot();
    const a = await session({ sessionResumption: {} });
    const update = await a.waitFor((m) => m.sessionResumptionUpdate?.newHandle !== undefined);
    const stale = update.sessionResumptionUpdate!.newHandle!;
    gem.emu!.expireResumptionHandles();
    const refused = (handle: string, o: ConnectOptions = {}) =>
      connectError(gem.emu!.url, { ...o, config: { sessionResumption: { handle } } });
    expect(await refused(stale)).toBe(
      'Live connection closed before setup completed (code 1008): Requested entity was not found.',
    );
    expect(await refused('made-up')).toMatch(/code 1008\)/);
    const invalid =
      'Live connection closed before setup completed (code 1007): Request contains an invalid argument.';
    expect(await refused('made-up', { model: 'gemini-3.8-live' })).toBe(invalid);
    expect(await refused('made-up', { model: 'gemini-3.1-flash-live-preview' })).toBe(invalid);

    // A live handle of a 3.8 session, on another model and with another API key.
    const c = await connect(gem.emu!.url, {
      apiKey: 'key-a',
      model: 'gemini-3.8-live',
      config: { sessionResumption: {} },
    });
    gem.open.push(c);
    const handle = (await c.waitFor((m) => m.sessionResumptionUpdate?.newHandle !== undefined))
      .sessionResumptionUpdate!.newHandle!;
    expect(await refused(handle, { apiKey: 'key-a', model: 'gemini-3.1-flash-live-preview' })).toBe(invalid);
    expect(await refused(handle, { apiKey: 'key-a' })).toMatch(/code 1007\): Request contains an invalid/);
    expect(await refused(handle, { apiKey: 'key-b', model: 'gemini-3.8-live' })).toBe(invalid);
    // The owner on the same model, while c is still open: refused (close the old connection first).
    expect(await refused(handle, { apiKey: 'key-a', model: 'gemini-3.8-live' })).toBe(
      'Live connection closed before setup completed (code 1011): Internal error encountered.',
    );
    c.session.close();
    await c.closed;
    // Once it is closed, the owner on the same model resumes it.
    const d = await connect(gem.emu!.url, {
      apiKey: 'key-a',
      model: 'gemini-3.8-live',
      config: { sessionResumption: { handle } },
    });
    gem.open.push(d);
    expect(gem.emu!.stats().at(-1)!.resumed).toBe(true);
  });

  it('3.x takes history with model turns only as initial history declared by historyConfig, and does not answer it', async () => {
    await boot();
    const history = [
      { role: 'user', parts: [{ text: 'my name is Ada' }] },
      { role: 'model', parts: [{ text: 'Hello Ada.' }] },
    ];
    // Undeclared: the socket is closed right after the content (as the service does on 3.x).
    const bare = await connect(gem.emu!.url, { model: 'gemini-3.8-live', config: {} });
    gem.open.push(bare);
    bare.session.sendClientContent({ turns: history, turnComplete: true });
    expect(await bare.closed).toEqual({ code: 1007, reason: 'Request contains an invalid argument.' });

    const seeded = await connect(gem.emu!.url, {
      model: 'gemini-3.8-live',
      config: { outputAudioTranscription: {} },
      setupExtras: { historyConfig: { initialHistoryInClientContent: true } },
    });
    gem.open.push(seeded);
    expect(gem.emu!.stats().at(-1)!.setup?.historyConfig).toEqual({ initialHistoryInClientContent: true });
    seeded.session.sendClientContent({ turns: history, turnComplete: true });
    seeded.session.sendRealtimeInput({ text: 'who am I?' });
    await seeded.turnComplete();
    // One turn answered: the history started none of its own.
    expect(seeded.messages.filter((m) => m.serverContent?.turnComplete)).toHaveLength(1);
    expect(textOf(seeded.messages, 'outputTranscription')).toBe(
      'You said "who am I?". That is turn 2 of this conversation. Before that: "my name is Ada".',
    );
    // The initial history is over: model turns now are refused like undeclared ones.
    seeded.session.sendClientContent({ turns: history, turnComplete: false });
    expect((await seeded.closed).code).toBe(1007);
  });

  it('only the latest few handles of a session stay valid', async () => {
    await boot();
    const a = await session({ sessionResumption: {} });
    for (let i = 1; i <= 5; i++) {
      a.session.sendRealtimeInput({ text: `t${i}` });
      await a.turnComplete(i);
    }
    await a.waitFor((m) => m.sessionResumptionUpdate !== undefined, {
      from: a.messages.indexOf(await a.turnComplete(5)),
    });
    const all = handles(a);
    expect(all).toHaveLength(6);
    expect(await connectError(gem.emu!.url, { config: { sessionResumption: { handle: all[0]! } } })).toMatch(
      /1008/,
    );
    a.session.close();
    await a.closed;
    const b = await session({ sessionResumption: { handle: all.at(-1)! } });
    b.session.sendRealtimeInput({ text: 'latest' });
    await b.turnComplete();
    expect(textOf(b.messages, 'outputTranscription')).toContain('That is turn 6');
  });

  it('handles expire after resumptionHandleTtlMs', async () => {
    await boot({ resumptionHandleTtlMs: 1 });
    const a = await session({ sessionResumption: {} });
    const update = await a.waitFor((m) => m.sessionResumptionUpdate?.newHandle !== undefined);
    // A whole turn and a new WebSocket handshake take well over 1 ms on any machine.
    a.session.sendRealtimeInput({ text: 'pass time' });
    await a.turnComplete();
    const message = await connectError(gem.emu!.url, {
      config: { sessionResumption: { handle: update.sessionResumptionUpdate!.newHandle! } },
    });
    expect(message).toMatch(/1008/);
  });

  it('connection lifetime: goAway{timeLeft}, then 1011; resuming after it keeps the state', async () => {
    await boot({ connectionLifetimeMs: 1500, goAwayNoticeMs: 1000 });
    const a = await session({ sessionResumption: {} });
    a.session.sendRealtimeInput({ text: 'before' });
    await a.turnComplete();
    const goAway = await a.waitFor((m) => m.goAway !== undefined);
    expect(goAway.goAway!.timeLeft).toBe('1s');
    const closed = await a.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toMatch(/lifetime/);
    const handle = handles(a).at(-1)!;
    const b = await session({ sessionResumption: { handle } });
    b.session.sendRealtimeInput({ text: 'after' });
    await b.turnComplete();
    expect(textOf(b.messages, 'outputTranscription')).toContain('That is turn 2');
    expect(gem.emu!.stats()[0]!.goAways).toBe(1);
  });

  it('goAway() on demand', async () => {
    await boot();
    const next = gem.emu!.nextSession();
    const a = await session();
    (await next).goAway(200);
    expect((await a.waitFor((m) => m.goAway !== undefined)).goAway!.timeLeft).toBe('0.2s');
    expect((await a.closed).code).toBe(1011);
  });

  it('audio-only session limit without compression → 1011', async () => {
    await boot({ audioSessionLimitMs: 300 });
    const a = await session();
    const closed = await a.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toMatch(/audio-only/);
  });

  it('video frames switch to the shorter video session limit', async () => {
    await boot({ audioSessionLimitMs: 10 * 60_000, videoSessionLimitMs: 300 });
    const a = await session();
    a.session.sendRealtimeInput({ text: 'no video yet' });
    await a.turnComplete();
    a.session.sendRealtimeInput({
      video: { data: Buffer.from('fake-jpeg').toString('base64'), mimeType: 'image/jpeg' },
    });
    const closed = await a.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toMatch(/audio\+video/);
    expect(gem.emu!.stats()[0]!.videoFrames).toBe(1);
  });

  it('contextWindowCompression lifts the session limits and bounds the prompt', async () => {
    await boot({ audioSessionLimitMs: 200, videoSessionLimitMs: 200 }, 4);
    const a = await session({
      contextWindowCompression: { triggerTokens: '120', slidingWindow: { targetTokens: '60' } },
    });
    a.session.sendRealtimeInput({ video: { data: 'AAAA', mimeType: 'image/jpeg' } });
    for (let i = 1; i <= 3; i++) {
      a.session.sendRealtimeInput({ text: `message ${i}` });
      await a.turnComplete(i);
    }
    const stats = gem.emu!.stats()[0]!;
    expect(stats.closedAt).toBeUndefined();
    // The run outlasted the limits it would have hit without compression.
    expect(stats.turnLog.at(-1)!.completedAt! - stats.setupCompleteAt!).toBeGreaterThan(200);
    expect(stats.compressions).toBeGreaterThan(0);
    const prompts = a.messages.filter((m) => m.usageMetadata).map((m) => m.usageMetadata!.promptTokenCount!);
    for (const p of prompts.slice(1)) expect(p).toBeLessThanOrEqual(120 + 20);
  });

  it('usageMetadata: the prompt grows with the conversation; modality details add up', async () => {
    await boot();
    const a = await session({ systemInstruction: 'You are a helpful assistant.' });
    a.session.sendRealtimeInput({ text: 'first' });
    await a.turnComplete(1);
    a.session.sendRealtimeInput({ text: 'second' });
    const done = await a.turnComplete(2);
    const usage = a.messages.filter((m) => m.usageMetadata).map((m) => m.usageMetadata!);
    expect(usage).toHaveLength(2);
    expect(usage[1]!.promptTokenCount!).toBeGreaterThan(
      usage[0]!.promptTokenCount! + usage[0]!.responseTokenCount!,
    );
    const details = done.usageMetadata!.promptTokensDetails!;
    expect(details.reduce((s, d) => s + d.tokenCount!, 0)).toBe(done.usageMetadata!.promptTokenCount);
    expect(details.map((d) => d.modality).sort()).toEqual(['AUDIO', 'TEXT']);
    expect(done.usageMetadata!.responseTokensDetails![0]!.modality).toBe('AUDIO');
  });

  it('counters and timestamps per session', async () => {
    await boot();
    const a = await session();
    a.session.sendRealtimeInput({ text: 'count me' });
    await a.turnComplete();
    const s = gem.emu!.stats()[0]!;
    expect(s).toMatchObject({ textInputs: 1, turns: 1, interruptions: 0, videoFrames: 0 });
    expect(s.audioOutChunks).toBe(a.audioChunks().length);
    expect(s.audioOutSeconds).toBeCloseTo(a.audioChunks().reduce((n, c) => n + c.length, 0) / 24_000, 5);
    const t = s.turnLog[0]!;
    expect(t.trigger).toBe('text');
    expect(t.firstResponseAt!).toBeGreaterThanOrEqual(t.inputEndAt);
    expect(t.completedAt!).toBeGreaterThanOrEqual(t.firstResponseAt!);
  });

  it('SDK 2.x (v1beta path) and binary server frames', async () => {
    gem.emu = await start({ pacing: Number.POSITIVE_INFINITY, binaryFrames: true, apiKey: 'k2' });
    const ai = new GoogleGenAI2({ apiKey: 'k2', httpOptions: { baseUrl: gem.emu.url } });
    const log = new Waiters<LiveServerMessage2>();
    const s = await ai.live.connect({
      model: MODEL,
      config: { outputAudioTranscription: {} },
      callbacks: { onmessage: (m) => log.push(m) },
    });
    try {
      s.sendRealtimeInput({ text: 'from two' });
      await log.wait((m) => m.serverContent?.turnComplete === true);
      expect(textOf(log.items as LiveServerMessage[], 'outputTranscription')).toBe(
        'You said "from two". That is turn 1 of this conversation.',
      );
      expect(gem.emu.stats()[0]!.apiVersion).toBe('v1beta');
    } finally {
      s.close();
    }
  });

  it('a base URL with a path prefix (behind a proxy) routes sockets and REST alike', async () => {
    await boot();
    const base = `${gem.emu!.url}/proxy/gemini/`;
    const a = await connect(base, { config: { outputAudioTranscription: {} } });
    gem.open.push(a);
    a.session.sendRealtimeInput({ text: 'prefixed' });
    await a.turnComplete();
    const { GoogleGenAI } = await import('@google/genai');
    const ai = new GoogleGenAI({ apiKey: 'x', httpOptions: { baseUrl: base, apiVersion: 'v1alpha' } });
    expect((await ai.authTokens.create({ config: { uses: 1 } })).name).toMatch(/^auth_tokens\//);
  });

  it('GOOGLE_GEMINI_BASE_URL points an unconfigured SDK at the emulator', async () => {
    await boot();
    const saved = process.env.GOOGLE_GEMINI_BASE_URL;
    process.env.GOOGLE_GEMINI_BASE_URL = gem.emu!.url;
    try {
      const { GoogleGenAI } = await import('@google/genai');
      const s = await new GoogleGenAI({ apiKey: 'x' }).live.connect({
        model: MODEL,
        callbacks: { onmessage: () => {} },
      });
      s.close();
      expect(gem.emu!.stats()).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_GEMINI_BASE_URL;
      else process.env.GOOGLE_GEMINI_BASE_URL = saved;
    }
  });
});
