/**
 * The real worker (child process) on Vertex AI from the environment alone: `GOOGLE_GENAI_USE_VERTEXAI`,
 * `GOOGLE_CLOUD_PROJECT`, `GOOGLE_CLOUD_LOCATION` and a service-account key file minted by the Gemini
 * emulator (its `token_uri` is the emulator's), no `GEMINI_API_KEY`. A room's model is checked against
 * the Vertex entry of the catalogue.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentDispatchClient } from 'livekit-server-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Human, type Stack, startStack, until } from './fixtures/agent/kit.ts';
import { AgentWorker } from './scale-helpers.ts';

const PROJECT = 'vertex-worker-project';
let stack: Stack;
let dispatch: AgentDispatchClient;
let dir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await startStack({
    pacing: 4,
    scenario: { turns: [{ steps: [{ say: 'Hello from Vertex' }] }], loop: true },
  });
  dispatch = new AgentDispatchClient(stack.lk.url, stack.lk.apiKey, stack.lk.apiSecret);
  dir = mkdtempSync(join(tmpdir(), 'agent-vertex-'));
}, 120_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

function vertexEnv(): Record<string, string> {
  const keyFile = join(dir, 'key.json');
  writeFileSync(keyFile, JSON.stringify(stack.gemini.vertex.serviceAccount({ project: PROJECT })));
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
    const w = await AgentWorker.start({
      livekit: stack.lk,
      geminiUrl: stack.gemini.url,
      tag: 'vertex',
      env: { AGENT_NAME: 'vertex', ...vertexEnv() },
    });
    cleanups.push(() => w.stop());
    await w.registered();
    const alice = await Human.join(stack.lk, 'v-room', 'alice');
    cleanups.push(() => alice.close());
    await dispatch.createDispatch('v-room', 'vertex');
    const agent = await until(
      () => [...alice.room.remoteParticipants.values()].find((p) => p.identity.startsWith('agent')),
      'agent joins',
    );
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'agent listening');
    await alice.mic.say(1.0);
    await until(() => alice.heardMs() > 300, 'answer heard');
    const said = await until(
      () => alice.finals(alice.agentTrackSid()!).find((t) => t.text.includes('Hello from Vertex')),
      'agent transcript',
    );
    expect(said.text).toContain('Hello from Vertex');
    const stats = stack.gemini.stats().at(-1);
    expect(stats).toMatchObject({ backend: 'vertex', model: 'gemini-live-2.5-flash-native-audio' });
  });

  it('exits 2 naming GOOGLE_CLOUD_PROJECT when Vertex is on without a project', async () => {
    const w = await AgentWorker.start({
      livekit: stack.lk,
      geminiUrl: stack.gemini.url,
      tag: 'vertex-noproj',
      env: { ...vertexEnv(), GOOGLE_CLOUD_PROJECT: '' },
    });
    cleanups.push(() => w.stop());
    expect((await w.exited).code).toBe(2);
    expect(w.output).toMatch(/GOOGLE_CLOUD_PROJECT.*name the project/);
    expect(w.output).not.toMatch(/GEMINI_API_KEY/);
  });
});
