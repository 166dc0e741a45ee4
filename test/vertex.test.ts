// Vertex AI end to end, offline: the emulator serves the Vertex Live endpoint (LlmBidiService) and an
// OAuth2 token endpoint; the agent's LiveSession runs on it through @google/genai (`vertexai: true`)
// with a service-account key file, google-auth-library signing the JWT grant itself.
import { createSign, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LiveFatalError } from '../agent/live/errors.ts';
import { LiveSession } from '../agent/live/session.ts';
import { createVertexClient, type VertexOptions, vertexOptionsFromEnv } from '../agent/live/vertex.ts';
import { type GeminiEmulator, type ServiceAccountKey, start } from '../emulators/gemini-live/index.ts';

const PROJECT = 'vertex-test-project';
const LOCATION = 'us-central1';
const VERTEX_PATH = '/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent';

let emu: GeminiEmulator;
let dir: string;
const sessions: LiveSession[] = [];

beforeAll(async () => {
  emu = await start({ pacing: Number.POSITIVE_INFINITY });
  dir = mkdtempSync(join(tmpdir(), 'vertex-'));
});

afterEach(async () => {
  for (const s of sessions.splice(0)) await s.aclose();
});

afterAll(async () => {
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function keyFile(content: ServiceAccountKey | string): string {
  const path = join(dir, `key-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function vertexSession(vertex: Partial<VertexOptions>, o: { attempts?: number } = {}): LiveSession {
  const live = new LiveSession({
    vertex: { project: PROJECT, location: LOCATION, baseUrl: emu.url, ...vertex },
    model: 'gemini-3.8-live',
    config: { outputAudioTranscription: {} },
    reconnectBackoffMs: 10,
    maxReconnectAttempts: o.attempts ?? 6,
  });
  sessions.push(live);
  return live;
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

/** Opens a raw socket on the Vertex path; resolves with the upgrade's HTTP status and body when refused. */
function upgrade(headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${emu.url.replace('http', 'ws')}${VERTEX_PATH}`, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

/** A JWT-bearer grant signed with `privateKey` (PEM), as google-auth-library builds it. */
function assertion(privateKey: string, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({
    scope: 'https://www.googleapis.com/auth/cloud-platform',
    aud: 'https://oauth2.googleapis.com/token',
    iat: now,
    exp: now + 3600,
    ...claims,
  })}`;
  return `${body}.${createSign('RSA-SHA256').update(body).sign(privateKey).toString('base64url')}`;
}

async function grant(
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(emu.vertex.tokenUrl, { method: 'POST', body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('the emulator as Vertex AI', () => {
  it('completes a turn through @google/genai (vertexai) with a service-account key file whose token_uri is the emulator', async () => {
    const key = emu.vertex.serviceAccount({ project: PROJECT });
    expect(key.token_uri).toBe(`${emu.url}/token`);
    const ai = await createVertexClient({
      project: PROJECT,
      location: LOCATION,
      baseUrl: emu.url,
      credentialsFile: keyFile(key),
    });
    const next = emu.nextSession();
    const messages: { usage?: unknown; done?: boolean }[] = [];
    let done!: () => void;
    const turn = new Promise<void>((r) => {
      done = r;
    });
    const session = await ai.live.connect({
      model: 'gemini-3.8-live',
      config: {},
      callbacks: {
        onmessage: (m) => {
          messages.push({ usage: m.usageMetadata, done: m.serverContent?.turnComplete });
          if (m.serverContent?.turnComplete) done();
        },
      },
    });
    const live = await next;
    expect(live.stats.backend).toBe('vertex');
    expect(live.stats.apiVersion).toBe('v1beta1');
    expect(live.stats.model).toBe('gemini-3.8-live');
    // The SDK's Vertex setup: the full publisher-model resource name, AUDIO by default.
    expect(live.stats.setup?.model).toBe(
      `projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-3.8-live`,
    );
    expect(
      ((live.stats.setup?.generationConfig ?? {}) as { responseModalities?: string[] }).responseModalities,
    ).toEqual(['AUDIO']);
    session.sendRealtimeInput({ text: 'hello vertex' });
    await turn;
    // Vertex sends `candidates*` counts; the SDK hands them out as `response*`.
    const usage = messages.find((m) => m.done)?.usage as Record<string, unknown>;
    expect(usage.responseTokenCount).toBeGreaterThan(0);
    expect(usage.candidatesTokenCount).toBeUndefined();
    session.close();
  });

  it('refuses a missing, unknown, expired or revoked bearer token on the upgrade with 401 UNAUTHENTICATED', async () => {
    const key = emu.vertex.serviceAccount({ project: PROJECT });
    const missing = await upgrade({});
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body).error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
    expect(JSON.parse(missing.body).error.message).toMatch(/missing required authentication credential/);
    for (const token of ['ya29.not-one-of-ours', emu.vertex.issueToken(key.client_email, -1).token]) {
      const refused = await upgrade({ authorization: `Bearer ${token}` });
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.body).error.message).toMatch(/invalid authentication credentials/);
    }
    const good = emu.vertex.issueToken(key.client_email).token;
    expect((await upgrade({ authorization: `Bearer ${good}` })).status).toBe(101);
    const revoke = await fetch(`${emu.url}/revoke?token=${good}`, { method: 'POST' });
    expect(revoke.status).toBe(200);
    expect((await upgrade({ authorization: `Bearer ${good}` })).status).toBe(401);
    // An API key is not a Vertex credential here (express mode is not emulated).
    expect((await upgrade({ 'x-goog-api-key': 'AIzaSomething' })).status).toBe(401);
  });

  it("the token endpoint verifies the JWT grant with the service account's public key", async () => {
    const key = emu.vertex.serviceAccount({ project: PROJECT });
    const ok = await grant({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: assertion(key.private_key, { iss: key.client_email }),
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer' });
    expect(ok.body.expires_in).toBeGreaterThan(3500);
    expect((await upgrade({ authorization: `Bearer ${ok.body.access_token}` })).status).toBe(101);

    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    const forged = await grant({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: assertion(other, { iss: key.client_email }),
    });
    expect(forged).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' },
    });
    const stale = await grant({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: assertion(key.private_key, { iss: key.client_email, iat: 1_000_000, exp: 1_003_600 }),
    });
    expect(stale.body.error).toBe('invalid_grant');
    const stranger = await grant({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: assertion(key.private_key, { iss: 'nobody@elsewhere.iam.gserviceaccount.com' }),
    });
    expect(stranger.body).toMatchObject({ error: 'invalid_grant' });
    expect((await grant({ grant_type: 'password' })).body.error).toBe('unsupported_grant_type');
    expect((await grant({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer' })).body.error).toBe(
      'invalid_request',
    );
  });

  it("takes Vertex's model ids: the Gemini API's 2.5 preview id is not found there (1008)", async () => {
    const key = emu.vertex.serviceAccount({ project: PROJECT });
    const ai = await createVertexClient({
      project: PROJECT,
      location: LOCATION,
      baseUrl: emu.url,
      credentialsFile: keyFile(key),
    });
    await expect(
      ai.live.connect({
        model: 'gemini-2.5-flash-native-audio-preview-12-2025',
        callbacks: { onmessage() {} },
      }),
    ).rejects.toThrow(/code 1008/);
    const next = emu.nextSession();
    const s = await ai.live.connect({
      model: 'gemini-live-2.5-flash-native-audio',
      callbacks: { onmessage() {} },
    });
    expect((await next).stats.model).toBe('gemini-live-2.5-flash-native-audio');
    s.close();
  });
});

describe('the agent (LiveSession) on Vertex AI', () => {
  it('completes a turn with a service-account key file', async () => {
    const key = emu.vertex.serviceAccount({ project: PROJECT });
    const live = vertexSession({ credentialsFile: keyFile(key) });
    await live.start();
    const answer = reply(live);
    live.sendText('hello from the agent');
    expect(await answer).toContain('hello from the agent');
    expect(emu.stats().at(-1)).toMatchObject({ backend: 'vertex', model: 'gemini-3.8-live' });
  });

  it('a malformed key file is a clear fatal error naming the file, without key material, and no connection', async () => {
    const secret = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';
    const cases: [string, RegExp][] = [
      [
        `{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\n${secret}`,
        /not valid JSON/,
      ],
      [
        JSON.stringify({
          type: 'service_account',
          client_email: 'a@b.iam.gserviceaccount.com',
          private_key: secret,
        }),
        /"private_key" is not a PEM private key/,
      ],
      [JSON.stringify({ type: 'service_account', private_key: secret }), /"client_email" is missing/],
    ];
    const before = emu.stats().length;
    for (const [content, why] of cases) {
      const file = keyFile(content);
      const live = vertexSession({ credentialsFile: file });
      const fatal = once(live, 'fatal');
      const err = await live.start().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LiveFatalError);
      expect((err as LiveFatalError).kind).toBe('auth');
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).not.toContain(secret.slice(0, 12));
      expect((await fatal)[0]).toBe(err);
      expect(live.state).toBe('closed');
    }
    const missing = vertexSession({ credentialsFile: join(dir, 'nope.json') });
    await expect(missing.start()).rejects.toThrow(/nope\.json: cannot be read \(ENOENT\)/);
    expect(emu.stats().length).toBe(before);
  });

  it('an unreachable token endpoint is a clear error after the configured attempts, not a crash', async () => {
    // A port nothing listens on.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const key = {
      ...emu.vertex.serviceAccount({ project: PROJECT }),
      token_uri: `http://127.0.0.1:${port}/token`,
    };
    const live = vertexSession({ credentialsFile: keyFile(key) }, { attempts: 2 });
    const reconnecting: number[] = [];
    live.on('reconnecting', (r) => reconnecting.push(r.attempt));
    const err = (await live.start().catch((e: unknown) => e)) as LiveFatalError;
    expect(err).toBeInstanceOf(LiveFatalError);
    expect(err.kind).toBe('unavailable');
    expect(err.message).toMatch(/after 2 attempts: could not get an access token/);
    expect(reconnecting).toEqual([2]);
    expect(err.message).not.toContain(key.private_key.slice(40, 60));
  });

  it('credentials the token endpoint refuses (deleted service account) are fatal at once', async () => {
    const key = emu.vertex.serviceAccount({ project: PROJECT });
    emu.vertex.deleteServiceAccount(key.client_email);
    const live = vertexSession({ credentialsFile: keyFile(key) });
    let retries = 0;
    live.on('reconnecting', () => retries++);
    const err = (await live.start().catch((e: unknown) => e)) as LiveFatalError;
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/refused the credentials \(HTTP 400\): invalid_grant/);
    expect(retries).toBe(0);
  });

  it('an access token Vertex does not accept (HTTP 401 on the upgrade) is fatal at once', async () => {
    // Another "Google": the key and its tokens are valid there, not at the endpoint the agent uses.
    const elsewhere = await start();
    try {
      const key = elsewhere.vertex.serviceAccount({ project: PROJECT });
      const live = vertexSession({ credentialsFile: keyFile(key) });
      let retries = 0;
      live.on('reconnecting', () => retries++);
      const err = (await live.start().catch((e: unknown) => e)) as LiveFatalError;
      expect(err.kind).toBe('auth');
      expect(err.message).toMatch(/HTTP 401/);
      expect(retries).toBe(0);
    } finally {
      await elsewhere.close();
    }
  });

  it('a token revoked mid-session ends the session with a clear auth failure, no reconnect loop', async () => {
    const key = emu.vertex.serviceAccount({ project: PROJECT });
    const live = vertexSession({ credentialsFile: keyFile(key) });
    const next = emu.nextSession();
    await live.start();
    const answer = reply(live);
    live.sendText('first turn');
    await answer;
    const server = await next;
    const fatal = once(live, 'fatal');
    let retries = 0;
    live.on('reconnecting', () => retries++);
    const res = await fetch(`${emu.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: server.accessToken! }),
    });
    expect(res.status).toBe(200);
    const [err] = (await fatal) as [LiveFatalError];
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/invalid authentication credentials/);
    expect(err.message).not.toContain(server.accessToken!);
    expect(retries).toBe(0);
    expect(live.state).toBe('closed');
    expect(live.stats.connections).toBe(1);
  });
});

describe('vertexOptionsFromEnv', () => {
  it('reads the variables the SDK reads, and nothing when Vertex is off', () => {
    expect(vertexOptionsFromEnv({ GOOGLE_CLOUD_PROJECT: 'p' })).toBeUndefined();
    expect(
      vertexOptionsFromEnv({
        GOOGLE_GENAI_USE_VERTEXAI: 'true',
        GOOGLE_CLOUD_PROJECT: 'p',
        GOOGLE_CLOUD_LOCATION: 'europe-west4',
        GOOGLE_APPLICATION_CREDENTIALS: '/keys/sa.json',
        GOOGLE_VERTEX_BASE_URL: 'http://127.0.0.1:9',
      }),
    ).toEqual({
      project: 'p',
      location: 'europe-west4',
      credentialsFile: '/keys/sa.json',
      baseUrl: 'http://127.0.0.1:9',
    });
    // ENTERPRISE wins over VERTEXAI, as in the SDK.
    expect(
      vertexOptionsFromEnv({ GOOGLE_GENAI_USE_VERTEXAI: 'true', GOOGLE_GENAI_USE_ENTERPRISE: 'false' }),
    ).toBeUndefined();
    expect(() => vertexOptionsFromEnv({ GOOGLE_GENAI_USE_VERTEXAI: '1' })).toThrow(/GOOGLE_CLOUD_PROJECT/);
  });
});
