// `npm run token-server -- --port 0`: the URL alone on stdout's first line, keys from the environment or
// from livekit.yaml, a bearer key from the environment, a clean exit on SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { loadLiveKitConfig } from '../shared/livekit-config.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
});

/** Starts the CLI and resolves with its first stdout line, plus everything it writes to stderr. */
async function startCli(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(LIVEKIT_|GEMINI_|GOOGLE_|TOKEN_SERVER_|AGENT_NAME)/.test(k),
    ),
  );
  const child = spawn(process.execPath, [join(root, 'token-server', 'cli.ts'), '--port', '0'], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`token-server exited (${code}): ${err}`);
  });
  const [first] = (await Promise.race([once(lines, 'line'), exited])) as [string];
  return { child, url: first, stderr: () => err };
}

async function token(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/livekit/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ room_name: 'cli-room', participant_identity: 'cli-user' }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe('token-server CLI', () => {
  it('prints its URL alone on a line and signs with livekit.yaml keys by default', async () => {
    const { child, url } = await startCli({});
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    const lk = loadLiveKitConfig(undefined, {});
    const { status, body } = await token(url);
    expect(status).toBe(201);
    expect(body.server_url).toBe(`ws://${lk.host}:${lk.port}`);
    const claims = await new TokenVerifier(lk.apiKey, lk.apiSecret).verify(body.participant_token!);
    expect(claims.sub).toBe('cli-user');

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('takes LiveKit keys, URL and a bearer key from the environment, and logs none of the secrets', async () => {
    const secret = 'env-secret-5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b';
    const bearer = 'env-bearer-0f1e2d3c4b5a69788796a5b4c3d2e1f0';
    const { url, stderr } = await startCli({
      LIVEKIT_URL: 'wss://lk.example.test',
      LIVEKIT_API_KEY: 'APIenv',
      LIVEKIT_API_SECRET: secret,
      TOKEN_SERVER_BEARER: bearer,
      GEMINI_API_KEY: 'env-gemini-key-1234567890abcdef',
    });
    expect((await token(url)).status).toBe(401);
    const { status, body } = await token(url, { authorization: `Bearer ${bearer}` });
    expect(status).toBe(201);
    expect(body.server_url).toBe('wss://lk.example.test');
    expect((await new TokenVerifier('APIenv', secret).verify(body.participant_token!)).sub).toBe('cli-user');
    // Logs are written asynchronously: wait for the line of the mint above before scanning.
    await expect.poll(stderr, { timeout: 20_000 }).toMatch(/token minted/);
    const log = stderr();
    expect(log).toMatch(/token server listening/);
    for (const s of [secret, bearer, 'env-gemini-key-1234567890abcdef', body.participant_token!]) {
      expect(log.includes(s)).toBe(false);
    }
  });

  it('with GOOGLE_GENAI_USE_VERTEXAI (as the SDK reads it), POST /gemini/token is 501 with the reason', async () => {
    const { url } = await startCli({
      GOOGLE_GENAI_USE_VERTEXAI: 'true',
      GOOGLE_CLOUD_PROJECT: 'p',
      GEMINI_API_KEY: 'env-gemini-key-1234567890abcdef',
    });
    const res = await fetch(`${url}/gemini/token`, { method: 'POST' });
    expect(res.status).toBe(501);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('ephemeral_tokens_unavailable');
    expect(body.message).toMatch(/Vertex AI.*no ephemeral tokens/);
    // LiveKit tokens are unaffected.
    expect((await token(url)).status).toBe(201);
  });
});
