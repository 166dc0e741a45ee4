import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVertexClient } from '../agent/live/vertex.ts';
import { connect, connectError, textOf, WAIT_MS } from './fixtures/gemini-client.ts';

const CLI = join(import.meta.dirname, '..', 'emulators', 'gemini-live', 'cli.ts');

/** `npm run emulator:gemini` entry point: prints its URL alone on a line and honours its flags. */
describe('Gemini Live emulator CLI', () => {
  let child: ChildProcess;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gemini-cli-'));
    const scenario = join(dir, 'scenario.json');
    writeFileSync(scenario, JSON.stringify({ turns: [{ steps: [{ say: 'Scripted from a file.' }] }] }));
    child = spawn(
      process.execPath,
      [
        CLI,
        '--port',
        '0',
        '--api-key',
        'cli-key',
        '--model',
        'my-live-model',
        '--pacing',
        'max',
        '--scenario',
        scenario,
        '--service-account',
        join(dir, 'sa.json'),
        '--project',
        'cli-project',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines = createInterface({ input: child.stdout! });
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('CLI printed no URL')), WAIT_MS);
      child.once('exit', (code) => reject(new Error(`CLI exited with ${code}`)));
      lines.once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints http://127.0.0.1:PORT alone on its first line', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toMatch(/:0$/);
  });

  it('serves the scenario, the extra model and the API key check', async () => {
    const r = await connect(url, {
      apiKey: 'cli-key',
      model: 'my-live-model',
      config: { outputAudioTranscription: {} },
    });
    r.session.sendRealtimeInput({ text: 'go' });
    await r.turnComplete();
    expect(textOf(r.messages, 'outputTranscription')).toBe('Scripted from a file.');
    r.session.close();
    expect(await connectError(url, { apiKey: 'other' })).toMatch(/1007/);
  });

  it('--service-account writes a key file (0600) whose token_uri is the emulator; Vertex AI accepts it', async () => {
    const file = join(dir, 'sa.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = JSON.parse(readFileSync(file, 'utf8'));
    expect(key).toMatchObject({
      type: 'service_account',
      project_id: 'cli-project',
      token_uri: `${url}/token`,
    });
    const ai = await createVertexClient({ project: 'cli-project', baseUrl: url, credentialsFile: file });
    const session = await ai.live.connect({ model: 'gemini-3.8-live', callbacks: { onmessage() {} } });
    session.close();
  });

  it('exits cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses bad flags with a message', async () => {
    const bad = spawn(process.execPath, [CLI, '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    bad.stderr!.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((r) => bad.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/--port/);
  });
});
