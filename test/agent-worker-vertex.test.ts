/**
 * The real worker (child process) on Vertex AI from the environment alone: `GOOGLE_GENAI_USE_VERTEXAI`,
 * `GOOGLE_CLOUD_PROJECT`, `GOOGLE_CLOUD_LOCATION` and a service-account key file minted by the Gemini
 * emulator (its `token_uri` is the emulator's), no `GEMINI_API_KEY`. A room's model is checked against
 * the Vertex entry of the catalogue.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './fixtures/agent/kit.ts';
import { listeningAgent, workerSuite } from './fixtures/agent/worker-suite.ts';

const PROJECT = 'vertex-worker-project';
const suite = workerSuite({
  pacing: 4,
  scenario: { turns: [{ steps: [{ say: 'Hello from Vertex' }] }], loop: true },
});
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-vertex-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function vertexEnv(): Record<string, string> {
  const keyFile = join(dir, 'key.json');
  writeFileSync(keyFile, JSON.stringify(suite.stack.gemini.vertex.serviceAccount({ project: PROJECT })));
  return {
    GEMINI_API_KEY: '',
    GOOGLE_API_KEY: '',
    GOOGLE_GENAI_USE_VERTEXAI: 'true',
    GOOGLE_CLOUD_PROJECT: PROJECT,
    GOOGLE_CLOUD_LOCATION: 'us-central1',
    GOOGLE_APPLICATION_CREDENTIALS: keyFile,
    // Vertex's id of 2.5 native audio (the Gemini API's preview id is not a Vertex model).
    GEMINI_MODEL: 'gemini-live-2.5-flash-native-audio',
  };
}

describe('agent worker on Vertex AI (environment only)', { timeout: 240_000 }, () => {
  it('runs its Live sessions on Vertex: a human hears the answer and reads its transcript', async () => {
    await suite.worker('vertex', { env: vertexEnv() });
    const alice = await suite.human('v-room', 'alice');
    await suite.dispatch.createDispatch('v-room', 'vertex');
    await listeningAgent(alice);
    await alice.mic.say(1.0);
    await until(() => alice.heardMs() > 300, 'answer heard');
    const said = await until(
      () => alice.finals(alice.agentTrackSid()!).find((t) => t.text.includes('Hello from Vertex')),
      'agent transcript',
    );
    expect(said.text).toContain('Hello from Vertex');
    const stats = suite.stack.gemini.stats().at(-1);
    expect(stats).toMatchObject({ backend: 'vertex', model: 'gemini-live-2.5-flash-native-audio' });
  });

  it('exits 2 naming GOOGLE_CLOUD_PROJECT when Vertex is on without a project', async () => {
    const w = await suite.worker('vertex-noproj', {
      env: { ...vertexEnv(), GOOGLE_CLOUD_PROJECT: '' },
      registered: false,
    });
    expect((await w.exited).code).toBe(2);
    expect(w.output).toMatch(/GOOGLE_CLOUD_PROJECT.*name the project/);
    expect(w.output).not.toMatch(/GEMINI_API_KEY/);
  });
});
