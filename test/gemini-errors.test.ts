import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { connect, connectError, MODEL, type Recorder, WAIT_MS } from './fixtures/gemini-client.ts';

/** Every way a connection is refused or ends with an error code, and that the server survives them. */
describe('Gemini Live emulator: error close codes', () => {
  let emu: GeminiEmulator;
  const open: Recorder[] = [];

  beforeAll(async () => {
    emu = await start({
      apiKey: 'k',
      pacing: Number.POSITIVE_INFINITY,
      limits: { maxPayloadBytes: 64 * 1024 },
    });
  });
  afterEach(() => {
    for (const r of open.splice(0)) r.session.close();
  });
  afterAll(async () => {
    await emu.close();
  });

  async function session(config = {}): Promise<Recorder> {
    const r = await connect(emu.url, { apiKey: 'k', config });
    open.push(r);
    return r;
  }

  /** Opens a raw socket and sends frames; resolves with the close code/reason. */
  function raw(path: string, frames: (string | Buffer)[]): Promise<{ code: number; reason: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${emu.url.replace('http', 'ws')}${path}`);
      const timer = setTimeout(() => reject(new Error('no close')), WAIT_MS);
      ws.on('open', () => {
        for (const f of frames) ws.send(f);
      });
      ws.on('error', () => {});
      ws.on('close', (code, reason) => {
        clearTimeout(timer);
        resolve({ code, reason: reason.toString() });
      });
    });
  }
  const bidi = (v = 'v1beta') =>
    `/ws/google.ai.generativelanguage.${v}.GenerativeService.BidiGenerateContent?key=k`;
  const setup = JSON.stringify({ setup: { model: `models/${MODEL}` } });

  it('1007: missing or wrong key, unknown ephemeral token, a token on the key path', async () => {
    expect(await connectError(emu.url, { apiKey: 'nope' })).toMatch(/code 1007\): API key not valid/);
    const onKeyPath = await raw(bidi().replace('key=k', 'key=auth_tokens/abc'), [setup]);
    expect(onKeyPath).toEqual({ code: 1007, reason: 'API key not valid. Please pass a valid API key.' });
    expect(await connectError(emu.url, { apiKey: 'auth_tokens/abc', apiVersion: 'v1alpha' })).toMatch(
      /code 1007\): Auth token is not valid/,
    );
    const missing = await raw(
      '/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent',
      [setup],
    );
    expect(missing.code).toBe(1007);
  });

  it('1007: malformed JSON, binary junk, non-object and unknown fields', async () => {
    expect(await raw(bidi(), ['{"setup": '])).toEqual({
      code: 1007,
      reason: 'Invalid JSON payload received.',
    });
    expect((await raw(bidi(), [Buffer.from([0xff, 0xfe, 0x00, 0x81])])).code).toBe(1007);
    expect((await raw(bidi(), ['[1,2,3]'])).code).toBe(1007);
    const unknown = await raw(bidi(), [
      JSON.stringify({ setup: { model: `models/${MODEL}`, colour: 'red' } }),
    ]);
    expect(unknown.code).toBe(1007);
    expect(unknown.reason).toMatch(/Unknown name "colour"/);
    const badEnum = await connectError(emu.url, {
      apiKey: 'k',
      config: { realtimeInputConfig: { activityHandling: 'SOMETIMES' as never } },
    });
    expect(badEnum).toMatch(
      /code 1007\): Invalid JSON payload received at 'setup.realtimeInputConfig.activityHandling'/,
    );
  });

  it('1007: affective dialog and proactive audio outside v1alpha; v1alpha takes them', async () => {
    expect(await connectError(emu.url, { apiKey: 'k', config: { enableAffectiveDialog: true } })).toMatch(
      /code 1007\): Invalid JSON payload received\. Unknown name "generation_config\.enable_affective_dialog"/,
    );
    expect(
      await connectError(emu.url, { apiKey: 'k', config: { proactivity: { proactiveAudio: true } } }),
    ).toMatch(/code 1007\): Invalid JSON payload received\. Unknown name "proactivity"/);
    const r = await connect(emu.url, {
      apiKey: 'k',
      apiVersion: 'v1alpha',
      config: { enableAffectiveDialog: true, proactivity: { proactiveAudio: true } },
    });
    open.push(r);
    const stats = emu.stats().at(-1)!;
    expect(stats.apiVersion).toBe('v1alpha');
    expect(stats.setup).toMatchObject({
      generationConfig: { enableAffectiveDialog: true },
      proactivity: { proactiveAudio: true },
    });
  });

  it('1007: a first message that is not setup, and a second setup', async () => {
    const first = await raw(bidi(), [JSON.stringify({ realtimeInput: { text: 'hi' } })]);
    expect(first).toEqual({ code: 1007, reason: 'The first message must be a setup message.' });
    expect((await raw(bidi(), [setup, setup])).code).toBe(1007);
    const two = await raw(bidi(), [
      setup,
      JSON.stringify({ realtimeInput: { text: 'a' }, toolResponse: {} }),
    ]);
    expect(two.code).toBe(1007);
  });

  it('1007 after setup: bad mime types, activity signals with automatic VAD, tool response without id', async () => {
    let r = await session();
    r.session.sendRealtimeInput({ audio: { data: '', mimeType: 'audio/opus' } });
    expect(await r.closed).toMatchObject({
      code: 1007,
      reason: expect.stringMatching(/Unsupported audio mime type/),
    });
    r = await session();
    r.session.sendRealtimeInput({ activityStart: {} });
    expect((await r.closed).code).toBe(1007);
    r = await session();
    r.session.conn.send(
      JSON.stringify({ toolResponse: { functionResponses: [{ name: 'f', response: {} }] } }),
    );
    expect(await r.closed).toEqual({ code: 1007, reason: 'functionResponses[0].id is required.' });
  });

  it('1008: unknown model', async () => {
    expect(await connectError(emu.url, { apiKey: 'k', model: 'gemini-1.0-pro' })).toMatch(
      /code 1008\): models\/gemini-1.0-pro is not found for API version v1/,
    );
  });

  it('1009: a frame larger than maxPayload', async () => {
    const r = await session();
    r.session.sendRealtimeInput({
      audio: { data: Buffer.alloc(100 * 1024).toString('base64'), mimeType: 'audio/pcm;rate=16000' },
    });
    expect((await r.closed).code).toBe(1009);
  });

  it('1006 from terminate() and 1011 from close(): server-side kills for reconnect tests', async () => {
    let r = await session();
    const next = emu.nextSession();
    const r2 = await session();
    const s = await next;
    expect(s.id).toBe(emu.stats().at(-1)!.id);
    s.terminate();
    expect((await r2.closed).code).toBe(1006);
    r = await session();
    emu
      .sessions()
      .find((x) => !x.closed && x.id === emu.stats().at(-1)!.id)!
      .close(1011, 'Internal error encountered.');
    expect(await r.closed).toEqual({ code: 1011, reason: 'Internal error encountered.' });
  });

  it('404 for unknown socket paths and REST routes', async () => {
    const err = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${emu.url.replace('http', 'ws')}/ws/somewhere.else`);
      ws.on('error', (e) => resolve(e.message));
    });
    expect(err).toMatch(/404/);
    const res = await fetch(`${emu.url}/v1beta/models`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 404, status: 'NOT_FOUND' } });
  });

  it('still serves normally after all of the above', async () => {
    const r = await session();
    r.session.sendRealtimeInput({ text: 'still alive?' });
    await r.turnComplete();
    expect(emu.stats().filter((s) => s.closeCode === 1007).length).toBeGreaterThanOrEqual(10);
  });
});
