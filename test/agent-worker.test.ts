/**
 * The real worker (`node agent/main.ts start`, a child process with its job processes) against the
 * LiveKit dev server and the Gemini emulator, dispatched explicitly like production deployments do.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { AgentDispatchClient, RoomServiceClient, WebhookReceiver } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationReport } from '../agent/report/index.ts';
import { Human, type Stack, startStack, until } from './fixtures/agent/kit.ts';
import { webhookEndpoint } from './fixtures/webhook-endpoint.ts';
import { freePort } from './livekit-control-helpers.ts';

const ROOT = join(import.meta.dirname, '..');
const AGENT_NAME = 'gemini-it';

let stack: Stack;
let dispatch: AgentDispatchClient;
const workers: Worker[] = [];
const people: Human[] = [];

interface Worker {
  proc: ChildProcess;
  output: string;
  exited: boolean;
}

async function startWorker(env: Record<string, string>): Promise<Worker> {
  const proc = spawn(process.execPath, [join(ROOT, 'agent/main.ts'), 'start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      LIVEKIT_URL: stack.lk.url,
      LIVEKIT_API_KEY: stack.lk.apiKey,
      LIVEKIT_API_SECRET: stack.lk.apiSecret,
      GEMINI_API_KEY: 'test-key',
      GOOGLE_GEMINI_BASE_URL: stack.gemini.url,
      // 2.5: set_light blocks (the scripted answer has its result) and joins only inform the model, so the
      // scripted turns answer the speech (3.8 end to end: agent-models.test.ts).
      GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025',
      AGENT_NAME,
      AGENT_HTTP_PORT: String(await freePort()),
      AGENT_IDLE_PROCESSES: '1',
      AGENT_RECONNECT_BACKOFF_MS: '50',
      // The machine is shared with other suites: report load from sessions only, and bind side ports
      // wherever they are free.
      AGENT_LOAD_CPU: 'false',
      AGENT_METRICS_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const w: Worker = { proc, output: '', exited: false };
  proc.stdout!.on('data', (d) => {
    w.output += String(d);
  });
  proc.stderr!.on('data', (d) => {
    w.output += String(d);
  });
  proc.once('exit', () => {
    w.exited = true;
  });
  workers.push(w);
  await until(() => w.output.includes('registered worker') || w.exited, 'worker registration', 150_000);
  if (w.exited) throw new Error(`worker exited:\n${w.output}`);
  return w;
}

async function stopWorker(w: Worker): Promise<void> {
  if (w.exited) return;
  const exited = new Promise((r) => w.proc.once('exit', r));
  w.proc.kill('SIGTERM');
  const timer = setTimeout(() => w.proc.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

async function enter(room: string, identity: string): Promise<Human> {
  const h = await Human.join(stack.lk, room, identity);
  people.push(h);
  return h;
}

beforeAll(async () => {
  stack = await startStack({
    pacing: 4,
    scenario: {
      turns: [
        { steps: [{ echo: true }] },
        {
          steps: [
            { toolCall: { name: 'set_light', args: { on: false } } },
            { say: 'Light result {{result.set_light}}' },
          ],
        },
      ],
      loop: true,
    },
  });
  dispatch = new AgentDispatchClient(stack.lk.url, stack.lk.apiKey, stack.lk.apiSecret);
}, 120_000);

afterAll(async () => {
  for (const h of people.splice(0)) await h.close().catch(() => {});
  for (const w of workers.splice(0)) await stopWorker(w);
  await stack?.close();
}, 120_000);

describe('agent worker (child process) on the dev server + Gemini emulator', { timeout: 240_000 }, () => {
  it('is dispatched, answers speech on its track, transcribes, and calls the client RPC tool', async () => {
    await startWorker({});
    const alice = await enter('w-main', 'alice');
    alice.serveLight();
    await dispatch.createDispatch('w-main', AGENT_NAME);
    const agent = await until(
      () => [...alice.room.remoteParticipants.values()].find((p) => p.identity.startsWith('agent')),
      'agent joins',
    );
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'agent listening');
    await alice.mic.say(1.0);
    await until(() => alice.heardMs() > 500, 'echo answer heard');
    const user = await until(() => alice.finals(alice.mic.sid)[0], 'user transcript');
    expect(user.attributes['lk.segment_id']).toBeTruthy();
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'back to listening');
    await alice.mic.say(0.8, { seed: 2 });
    await until(() => alice.lightCalls.length === 1, 'set_light RPC from the worker');
    expect(JSON.parse(alice.lightCalls[0]!)).toEqual({ on: false });
    const sid = alice.agentTrackSid()!;
    const said = await until(
      () => alice.finals(sid).find((t) => t.text.includes('Light result')),
      'tool answer',
    );
    expect(said.text).toContain('"ok":true');
  });

  it('applies per-room overrides from dispatch metadata (per-participant policy)', async () => {
    const alice = await enter('w-meta', 'alice');
    await dispatch.createDispatch('w-meta', AGENT_NAME, {
      metadata: JSON.stringify({ policy: 'per-participant' }),
    });
    await until(() => alice.hasTrack('agent_audio_alice'), "alice's private agent track");
  });

  it('a bad Gemini key fails the room visibly and leaves the worker serving other rooms', async () => {
    const bad = await startWorker({ GEMINI_API_KEY: 'wrong-key', AGENT_NAME: 'gemini-bad' });
    const bob = await enter('w-bad-1', 'bob');
    await dispatch.createDispatch('w-bad-1', 'gemini-bad');
    const agent = await until(
      () => [...bob.room.remoteParticipants.values()].find((p) => p.identity.startsWith('agent')),
      'agent joins',
    );
    await until(() => agent.attributes['lk.agent.state'] === 'failed', 'failed state');
    expect(agent.attributes['lk.agent.error']).toMatch(/API key/);
    expect(bad.output).not.toContain('wrong-key');
    const carol = await enter('w-bad-2', 'carol');
    await dispatch.createDispatch('w-bad-2', 'gemini-bad');
    await until(
      () => [...carol.room.remoteParticipants.values()].find((p) => p.identity.startsWith('agent')),
      'the same worker takes the next room',
    );
    expect(bad.exited).toBe(false);
  });

  it('ends its job and closes its Live session once everyone has left (after AGENT_EMPTY_ROOM_TIMEOUT_S), and POSTs its report', async () => {
    const hook = await webhookEndpoint();
    const w = await startWorker({
      AGENT_NAME: 'gemini-empty',
      AGENT_EMPTY_ROOM_TIMEOUT_S: '1',
      AGENT_REPORT_WEBHOOK_URL: `${hook.url}?token=query-secret`,
    });
    const dave = await enter('w-empty', 'dave');
    const before = new Set(stack.gemini.sessions());
    await dispatch.createDispatch('w-empty', 'gemini-empty');
    const agent = await until(
      () => [...dave.room.remoteParticipants.values()].find((p) => p.identity.startsWith('agent')),
      'agent joins',
    );
    await until(() => agent.attributes['lk.agent.state'] === 'listening', 'agent listening');
    const live = await until(
      () => stack.gemini.sessions().find((s) => !before.has(s) && !s.closed),
      "the room's Live session",
    );
    await dave.mic.say(0.8);
    await until(() => dave.finals().length >= 2, 'his turn and the answer transcribed');
    await dave.close();
    people.splice(people.indexOf(dave), 1);
    const rooms = new RoomServiceClient(stack.lk.url, stack.lk.apiKey, stack.lk.apiSecret);
    await until(() => live.closed, 'its Live session closed');
    for (let tries = 0; ; tries++) {
      const left = await rooms.listParticipants('w-empty').catch(() => []);
      if (!left.some((p) => p.identity === agent.identity)) break;
      if (tries > 600) throw new Error('the agent stayed in the empty room');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The job's report, signed with the worker's key, as a backend verifies it.
    await until(() => hook.got.length > 0, 'the report webhook');
    await hook.close();
    const [d] = hook.got;
    const event = await new WebhookReceiver(stack.lk.apiKey, stack.lk.apiSecret).receive(
      d!.body,
      d!.authorization,
    );
    expect(event.event as string).toBe('conversation_report');
    const { report } = JSON.parse(d!.body) as { report: ConversationReport };
    expect(report).toMatchObject({
      version: 1,
      room: { name: 'w-empty', sid: expect.stringMatching(/^RM_/) },
      jobId: expect.stringMatching(/^AJ_/),
      agentIdentity: agent.identity,
      participants: [{ identity: 'dave', leftAt: expect.any(String) }],
    });
    expect(report.transcript.map((t) => 'speaker' in t && t.speaker.kind)).toEqual(['user', 'agent']);
    expect(w.output).toContain('report: webhook delivered');
    expect(w.output).not.toContain('query-secret');
  });
});
