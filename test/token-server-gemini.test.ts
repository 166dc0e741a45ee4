// Gemini ephemeral tokens end to end: the token server mints them on the Gemini emulator through
// @google/genai, and the real SDK in "browser" role opens a Live session with one on the Constrained
// path — once, with the server's model and config locked in.
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { GoogleGenAI, type LiveServerMessage, Modality, type Session } from '@google/genai';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeminiEmulator, start as startEmulator } from '../emulators/gemini-live/index.ts';
import { DEFAULT_LIVE_MODEL } from '../shared/gemini-models/index.ts';
import { type GeminiTokenResponse, startTokenServer, type TokenServer } from '../token-server/index.ts';

const GEMINI_KEY = 'gemini-key-3b9f0c1d2e4a5b6c7d8e9f0a1b2c3d4e';
const LIVEKIT_SECRET = 'lk-secret-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d';
const LOCKED_MODEL = 'gemini-2.0-flash-live-001';
const OTHER_MODEL = 'gemini-2.5-flash-native-audio-preview-12-2025';

const logLines: string[] = [];
const bodies: string[] = [];
const logger = pino({ level: 'debug' }, { write: (l: string) => void logLines.push(l) });

let emulator: GeminiEmulator;
const servers: TokenServer[] = [];
const sessions: Session[] = [];

async function startServer(o: Parameters<typeof startTokenServer>[0] = {}): Promise<TokenServer> {
  const s = await startTokenServer({
    apiKey: 'APIkey',
    apiSecret: LIVEKIT_SECRET,
    livekitUrl: 'ws://127.0.0.1:7880',
    geminiApiKey: GEMINI_KEY,
    geminiBaseUrl: emulator.url,
    model: LOCKED_MODEL,
    liveConfig: { responseModalities: [Modality.AUDIO] },
    logger,
    ...o,
  });
  servers.push(s);
  return s;
}

async function mint(server: TokenServer): Promise<{ status: number; body: GeminiTokenResponse }> {
  const res = await fetch(`${server.url}/gemini/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  const text = await res.text();
  bodies.push(text);
  return { status: res.status, body: JSON.parse(text) };
}

/** Opens a Live session the way a browser would, collecting every server message. */
async function connect(
  apiKey: string,
  opts: {
    model: string;
    apiVersion?: string;
    config?: Parameters<GoogleGenAI['live']['connect']>[0]['config'];
  },
): Promise<{ session: Session; messages: LiveServerMessage[]; turnDone: Promise<void> }> {
  const ai = new GoogleGenAI({
    apiKey,
    httpOptions: { apiVersion: opts.apiVersion ?? 'v1alpha', baseUrl: emulator.url },
  });
  const messages: LiveServerMessage[] = [];
  let done!: () => void;
  const turnDone = new Promise<void>((r) => {
    done = r;
  });
  const session = await ai.live.connect({
    model: opts.model,
    config: opts.config,
    callbacks: {
      onmessage: (m) => {
        messages.push(m);
        if (m.serverContent?.turnComplete) done();
      },
    },
  });
  sessions.push(session);
  return { session, messages, turnDone };
}

const parts = (messages: LiveServerMessage[]) =>
  messages.flatMap((m) => m.serverContent?.modelTurn?.parts ?? []);

beforeAll(async () => {
  emulator = await startEmulator({ apiKey: GEMINI_KEY, pacing: 20 });
});

afterAll(async () => {
  for (const s of sessions) s.close();
  await Promise.all(servers.map((s) => s.close()));
  await emulator?.close();
});

describe('POST /gemini/token', () => {
  let server: TokenServer;
  beforeAll(async () => {
    server = await startServer();
  });

  it('answers with the token, model, API version, service and expiry a browser needs', async () => {
    const { status, body } = await mint(server);
    expect(status).toBe(201);
    expect(body.token).toMatch(/^auth_tokens\//);
    expect(body.model).toBe(LOCKED_MODEL);
    expect(body.api_version).toBe('v1alpha');
    expect(body.base_url).toBe(emulator.url);
    expect(body.uses).toBe(1);
    const expire = Date.parse(body.expire_time);
    const newSession = Date.parse(body.new_session_expire_time);
    expect(Number.isFinite(expire) && Number.isFinite(newSession)).toBe(true);
    // Defaults: 30 min for the session's messages, 1 min to open it.
    expect(expire - newSession).toBe((1800 - 60) * 1000);
  });

  it('opens one Live session on the Constrained path with the locked model and config, whatever the client asks', async () => {
    const { body } = await mint(server);
    // The client asks for another model and for text answers; the token's field mask overrides both.
    const nextSetup = emulator.nextSession();
    const { session, messages, turnDone } = await connect(body.token, {
      model: OTHER_MODEL,
      config: { responseModalities: [Modality.TEXT], outputAudioTranscription: {} },
    });
    const live = await nextSetup;
    expect(live.stats.ephemeral).toBe(true);
    expect(live.stats.model).toBe(LOCKED_MODEL);

    session.sendClientContent({ turns: 'hello there', turnComplete: true });
    await turnDone;
    const p = parts(messages);
    expect(p.some((x) => x.inlineData?.mimeType?.startsWith('audio/pcm'))).toBe(true);
    expect(p.some((x) => typeof x.text === 'string' && x.text.length > 0)).toBe(false);
    // Fields outside the lock stay the client's choice: it asked for output transcription and gets it.
    expect(messages.some((m) => m.serverContent?.outputTranscription?.text)).toBe(true);
    session.close();
  });

  it('control: the same client request on an API-key session does get text, so the lock is what changed it', async () => {
    const { session, messages, turnDone } = await connect(GEMINI_KEY, {
      model: OTHER_MODEL,
      apiVersion: 'v1beta',
      config: { responseModalities: [Modality.TEXT] },
    });
    session.sendClientContent({ turns: 'hello there', turnComplete: true });
    await turnDone;
    expect(parts(messages).some((x) => typeof x.text === 'string' && x.text.length > 0)).toBe(true);
    session.close();
  });

  it("without a model option, locks the catalogue's default Live model (gemini-3.8-live)", async () => {
    const defaulted = await startServer({ model: undefined });
    const { status, body } = await mint(defaulted);
    expect(status).toBe(201);
    expect(body.model).toBe('gemini-3.8-live');
    expect(body.model).toBe(DEFAULT_LIVE_MODEL);
    // The emulator sees the locked default, whatever the browser names.
    const nextSetup = emulator.nextSession();
    const { session } = await connect(body.token, { model: OTHER_MODEL });
    expect((await nextSetup).stats.model).toBe('gemini-3.8-live');
    session.close();
  });

  it('on Vertex AI answers 501 ephemeral_tokens_unavailable, naming the reason, and asks Gemini nothing', async () => {
    const before = emulator.stats().length;
    const vertex = await startServer({ vertexai: true });
    const res = await fetch(`${vertex.url}/gemini/token`, { method: 'POST' });
    const text = await res.text();
    bodies.push(text);
    expect(res.status).toBe(501);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = JSON.parse(text) as { error: string; message: string };
    expect(body.error).toBe('ephemeral_tokens_unavailable');
    expect(body.message).toMatch(/Vertex AI, which has no ephemeral tokens/);
    expect(body.message).toMatch(/LiveKit room/);
    expect(emulator.stats().length).toBe(before);
    const metrics = await (await fetch(`${vertex.url}/metrics`)).text();
    expect(metrics).toMatch(/token_server_rejections_total\{reason="ephemeral_tokens_unavailable"\} 1/);
  });

  it('fails on a second use of the same token', async () => {
    const { body } = await mint(server);
    const first = await connect(body.token, { model: LOCKED_MODEL });
    first.session.close();
    await expect(connect(body.token, { model: LOCKED_MODEL })).rejects.toThrow(
      /closed before setup completed.*1007/i,
    );
  });

  it('a token past its new-session deadline opens nothing', async () => {
    const quick = await startServer({ geminiNewSessionTtlSeconds: 0.001 });
    const { body } = await mint(quick);
    expect(Date.parse(body.new_session_expire_time)).toBeLessThan(Date.parse(body.expire_time));
    await expect(connect(body.token, { model: LOCKED_MODEL })).rejects.toThrow(/1007/);
  });

  it('an upstream refusal becomes 502 without the key in the answer or the logs', async () => {
    const wrongKey = 'wrong-gemini-key-77aa66bb55cc44dd33ee';
    const bad = await startServer({ geminiApiKey: wrongKey });
    const res = await fetch(`${bad.url}/gemini/token`, { method: 'POST' });
    const text = await res.text();
    bodies.push(text);
    expect(res.status).toBe(502);
    expect(JSON.parse(text).error).toBe('upstream_error');
    expect(text.includes(wrongKey)).toBe(false);
    for (const l of logLines) expect(l.includes(wrongKey)).toBe(false);
    // The refusal was logged (redacted), and the server still mints with a good key elsewhere.
    expect(logLines.some((l) => l.includes('ephemeral token failed'))).toBe(true);
  });

  it('a Gemini endpoint that never answers becomes 502 at the deadline, and the server stays up', async () => {
    // Accepts connections and reads requests, never responds.
    const sockets = new Set<Socket>();
    const silent = createServer((sock) => {
      sockets.add(sock);
      sock.resume();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const hung = await startServer({
        geminiBaseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        geminiTimeoutMs: 300,
      });
      const res = await fetch(`${hung.url}/gemini/token`, { method: 'POST' });
      bodies.push(await res.clone().text());
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: string }).error).toBe('upstream_error');
      expect((await fetch(`${hung.url}/healthz`)).status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('counts minted ephemeral tokens in /metrics', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/token_server_tokens_minted_total\{kind="gemini"\} 3\b/);
  });

  it('never puts the Gemini key or the LiveKit secret in a response or a log line', () => {
    expect(bodies.length).toBeGreaterThan(3);
    for (const secret of [GEMINI_KEY, LIVEKIT_SECRET]) {
      for (const b of bodies) expect(b.includes(secret)).toBe(false);
      for (const l of logLines) expect(l.includes(secret)).toBe(false);
    }
    // Ephemeral tokens are credentials too: never logged.
    const tokens = bodies.flatMap((b) => /"token":"(auth_tokens\/[^"]+)"/.exec(b)?.[1] ?? []);
    expect(tokens.length).toBeGreaterThan(2);
    for (const t of tokens) for (const l of logLines) expect(l.includes(t)).toBe(false);
  });
});
