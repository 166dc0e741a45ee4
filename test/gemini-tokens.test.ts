import { GoogleGenAI, Modality } from '@google/genai';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { applyConstraints } from '../emulators/gemini-live/tokens.ts';
import { connect, connectError, MODEL, modelText, type Recorder } from './fixtures/gemini-client.ts';

/** Ephemeral tokens: minted over REST with the API key, used on the Constrained path. */
describe('Gemini Live emulator: ephemeral tokens', () => {
  let emu: GeminiEmulator;
  let ai: GoogleGenAI;
  const open: Recorder[] = [];

  beforeAll(async () => {
    emu = await start({ apiKey: 'server-key', pacing: Number.POSITIVE_INFINITY });
    ai = new GoogleGenAI({ apiKey: 'server-key', httpOptions: { baseUrl: emu.url, apiVersion: 'v1alpha' } });
    // The SDK warns on every ephemeral connect; keep the test output readable.
    vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => {
    for (const r of open.splice(0)) r.session.close();
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await emu.close();
  });

  const iso = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();
  async function withToken(name: string, config = {}) {
    const r = await connect(emu.url, { apiKey: name, apiVersion: 'v1alpha', config });
    open.push(r);
    return r;
  }

  it('mints a token that starts exactly `uses` sessions', async () => {
    const token = await ai.authTokens.create({ config: { uses: 1 } });
    expect(token.name).toMatch(/^auth_tokens\//);
    const r = await withToken(token.name!);
    r.session.sendRealtimeInput({ text: 'hi' });
    await r.turnComplete();
    expect(emu.stats().at(-1)).toMatchObject({ ephemeral: true, apiVersion: 'v1alpha' });
    expect(await connectError(emu.url, { apiKey: token.name!, apiVersion: 'v1alpha' })).toMatch(
      /code 1007\): Auth token has no uses left/,
    );
  });

  it('uses: 0 means unlimited', async () => {
    const token = await ai.authTokens.create({ config: { uses: 0 } });
    for (let i = 0; i < 3; i++) await withToken(token.name!);
    expect(open).toHaveLength(3);
  });

  it('honours expireTime and newSessionExpireTime', async () => {
    const expired = await ai.authTokens.create({ config: { expireTime: iso(-1000) } });
    expect(await connectError(emu.url, { apiKey: expired.name!, apiVersion: 'v1alpha' })).toMatch(
      /code 1007\): Auth token is not valid or has expired/,
    );
    const late = await ai.authTokens.create({ config: { newSessionExpireTime: iso(-1000) } });
    expect(await connectError(emu.url, { apiKey: late.name!, apiVersion: 'v1alpha' })).toMatch(
      /code 1007\): Auth token can no longer start new sessions/,
    );
    await expect(ai.authTokens.create({ config: { expireTime: iso(21 * 3600_000) } })).rejects.toThrow(
      /20 hours/,
    );
  });

  it('ends an open session at expireTime, and refuses to resume it with the expired token', async () => {
    const token = await ai.authTokens.create({ config: { uses: 1, expireTime: iso(1500) } });
    const r = await withToken(token.name!, { sessionResumption: {} });
    const update = await r.waitFor((m) => m.sessionResumptionUpdate?.newHandle !== undefined);
    r.session.sendRealtimeInput({ text: 'before expiry' });
    await r.turnComplete();
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      r.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('session still open 10 s after expireTime')), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(closed).toEqual({ code: 1007, reason: 'Auth token has expired (expireTime passed).' });
    expect(emu.stats().at(-1)!.closeCode).toBe(1007);
    const handle = update.sessionResumptionUpdate!.newHandle!;
    expect(
      await connectError(emu.url, {
        apiKey: token.name!,
        apiVersion: 'v1alpha',
        config: { sessionResumption: { handle } },
      }),
    ).toMatch(/code 1007\): Auth token is not valid or has expired/);
  });

  it('resuming a session does not consume a use', async () => {
    const token = await ai.authTokens.create({ config: { uses: 1, newSessionExpireTime: iso(60_000) } });
    const a = await withToken(token.name!, { sessionResumption: {} });
    const update = await a.waitFor((m) => m.sessionResumptionUpdate?.newHandle !== undefined);
    a.session.close();
    await a.closed;
    const b = await withToken(token.name!, {
      sessionResumption: { handle: update.sessionResumptionUpdate!.newHandle! },
    });
    expect(emu.stats().at(-1)!.resumed).toBe(true);
    b.session.close();
  });

  it('constraints without lockAdditionalFields lock the whole setup', async () => {
    const token = await ai.authTokens.create({
      config: {
        uses: 1,
        liveConnectConstraints: { model: MODEL, config: { responseModalities: [Modality.TEXT] } },
      },
    });
    const r = await withToken(token.name!, { responseModalities: [Modality.AUDIO], sessionResumption: {} });
    r.session.sendRealtimeInput({ text: 'locked' });
    await r.turnComplete();
    expect(modelText(r.messages)).toContain('You said "locked"');
    expect(r.audioChunks()).toHaveLength(0);
    // The client's sessionResumption was dropped too: no resumption updates.
    expect(r.messages.some((m) => m.sessionResumptionUpdate)).toBe(false);
    expect(emu.stats().at(-1)!.setup).toEqual({
      model: `models/${MODEL}`,
      generationConfig: { responseModalities: ['TEXT'] },
    });
  });

  it('lockAdditionalFields: [] locks only the fields the token sets', async () => {
    const token = await ai.authTokens.create({
      config: {
        uses: 1,
        liveConnectConstraints: { model: MODEL, config: { responseModalities: [Modality.TEXT] } },
        lockAdditionalFields: [],
      },
    });
    const r = await withToken(token.name!, { responseModalities: [Modality.AUDIO], sessionResumption: {} });
    r.session.sendRealtimeInput({ text: 'partly locked' });
    await r.turnComplete();
    expect(r.audioChunks()).toHaveLength(0);
    expect(r.messages.some((m) => m.sessionResumptionUpdate?.newHandle)).toBe(true);
  });

  it('answers bad REST requests with Google-style errors', async () => {
    const post = (
      body: string | Blob,
      headers: Record<string, string> = { 'x-goog-api-key': 'server-key' },
    ) => fetch(`${emu.url}/v1alpha/auth_tokens`, { method: 'POST', body, headers });
    let res = await post('{not json');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
    res = await post(JSON.stringify({ uses: 'many' }));
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/uses/);
    res = await post(new Blob([new Uint8Array(2 * 1024 * 1024)]));
    expect(res.status).toBe(413);
    res = await post('{}', {});
    expect(res.status).toBe(403);
    res = await fetch(`${emu.url}/v1alpha/auth_tokens`, { headers: { 'x-goog-api-key': 'server-key' } });
    expect(res.status).toBe(405);
  });

  it('refuses field masks that do not name setup fields, so none can reach Object.prototype', async () => {
    for (const path of ['__proto__.isPrototypeOf', 'constructor.prototype.x', 'generationConfig.__proto__']) {
      await expect(
        ai.authTokens.create({ config: { uses: 1, lockAdditionalFields: [path] } }),
      ).rejects.toThrow(`Invalid field_mask: '${path}' is not a field of BidiGenerateContentSetup.`);
    }
    expect(typeof Object.prototype.isPrototypeOf).toBe('function');
    // Even a token that got past the REST check never writes through the prototype chain.
    const out = applyConstraints({ model: 'm' }, { setup: { a: 1 }, fieldMask: ['__proto__.isPrototypeOf'] });
    expect(out).toEqual({ model: 'm' });
    expect(typeof Object.prototype.isPrototypeOf).toBe('function');
    // Sessions still take tool responses with a response object (the reported symptom of the pollution).
    const token = await ai.authTokens.create({ config: { uses: 1, lockAdditionalFields: ['temperature'] } });
    const r = await withToken(token.name!);
    r.session.sendToolResponse({ functionResponses: [{ id: 'x', name: 'f', response: { ok: true } }] });
    r.session.sendRealtimeInput({ text: 'still here' });
    await r.turnComplete();
    expect(emu.stats().at(-1)!.closeCode).toBeUndefined();
  });

  it('refuses a wrong API key when minting, and a plain API key on the Constrained path', async () => {
    const bad = new GoogleGenAI({
      apiKey: 'wrong',
      httpOptions: { baseUrl: emu.url, apiVersion: 'v1alpha' },
    });
    await expect(bad.authTokens.create({ config: {} })).rejects.toThrow(/API key not valid/);
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(
        `${emu.url.replace('http', 'ws')}/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained?access_token=server-key`,
      );
      ws.on('open', () => ws.send(JSON.stringify({ setup: { model: `models/${MODEL}` } })));
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    expect(closed).toEqual({ code: 1007, reason: 'Auth token is not valid or has expired.' });
  });
});
