/**
 * The real worker when a room goes wrong: bad room configuration (unknown tool, metadata that is not
 * JSON), a failed job's end, and another connection taking the agent's identity. Worker in a child
 * process against the LiveKit dev server and the Gemini emulator.
 */
import { describe, expect, it } from 'vitest';
import { connect, until } from './fixtures/agent/kit.ts';
import { agentIn, workerSuite } from './fixtures/agent/worker-suite.ts';

const suite = workerSuite({ pacing: 4 }, { AGENT_HTTP_PORT: '0' });
const worker = (tag: string, env: Record<string, string>) => suite.worker(tag, { env });
const human = (room: string, identity: string) => suite.human(room, identity);

/** Until the agent `identity` is no longer a participant of `room` on the server. */
async function agentGone(room: string, identity: string): Promise<void> {
  await until(
    async () => !(await suite.rooms.listParticipants(room)).some((p) => p.identity === identity),
    `agent ${identity} left ${room}`,
  );
}

describe('agent worker: failing rooms end, a pushed-out agent comes back', { timeout: 240_000 }, () => {
  it('an unknown tool in room metadata fails the room visibly, counts a config error, and the job ends when the room empties', async () => {
    const w = await worker('fail-tools', { AGENT_EMPTY_ROOM_TIMEOUT_S: '1' });
    await suite.rooms.createRoom({ name: 'f-tools', metadata: '{"tools":["get_weather","no_such_tool"]}' });
    const alice = await human('f-tools', 'alice');
    await suite.dispatch.createDispatch('f-tools', 'fail-tools');
    const agent = await until(() => agentIn(alice), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'failed', 'failed state');
    expect(agent.attributes['lk.agent.error']).toMatch(/tools: unknown tool\(s\) no_such_tool/);
    await until(
      async () => (await w.value('gemini_agent_errors_total', { type: 'config' })) === 1,
      'errors_total{type="config"}',
    );
    // The worker counts running jobs in its load report (every 2.5 s), so it may not show the new job yet.
    await until(async () => (await w.value('gemini_agent_worker_jobs_running')) === 1, 'jobs_running 1');
    await alice.close();
    await agentGone('f-tools', agent.identity);
    await until(
      async () => (await w.value('gemini_agent_worker_jobs_running')) === 0,
      'jobs_running back to 0',
    );
  });

  it('a setting the room’s model refuses fails the room at once, naming model and setting, with no Live session opened', async () => {
    const w = await worker('fail-model', {});
    const sessionsBefore = suite.stack.gemini.stats().length;
    const carol = await human('f-model', 'carol');
    await suite.dispatch.createDispatch('f-model', 'fail-model', {
      metadata: JSON.stringify({ model: 'gemini-3.8-live', proactiveAudio: false }),
    });
    const agent = await until(() => agentIn(carol), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'failed', 'failed state');
    expect(agent.attributes['lk.agent.error']).toMatch(
      /proactiveAudio: model gemini-3\.8-live refuses it \(proactive_audio cannot be false/,
    );
    await until(
      async () => (await w.value('gemini_agent_errors_total', { type: 'config' })) === 1,
      'errors_total{type="config"}',
    );
    // Failed before connecting: the emulator never saw a session for it (no 1007 later).
    expect(suite.stack.gemini.stats()).toHaveLength(sessionsBefore);
  });

  it('dispatch metadata that starts with "{" but is not JSON fails the room; a failed job ends after AGENT_FAILED_JOB_TIMEOUT_S even while people stay', async () => {
    const w = await worker('fail-json', { AGENT_FAILED_JOB_TIMEOUT_S: '2' });
    const bob = await human('f-json', 'bob');
    await suite.dispatch.createDispatch('f-json', 'fail-json', { metadata: '{"pushToTalk": tru' });
    const agent = await until(() => agentIn(bob), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'failed', 'failed state');
    expect(agent.attributes['lk.agent.error']).toMatch(
      /dispatch metadata: starts with "\{" but is not valid JSON/,
    );
    expect(agent.attributes['lk.agent.error']).not.toContain('tru');
    await agentGone('f-json', agent.identity);
    expect(bob.room.isConnected).toBe(true);
    await until(
      async () => (await w.value('gemini_agent_worker_jobs_running')) === 0,
      'jobs_running back to 0',
    );
  });

  it('AGENT_HTTP_PORT=0 binds a free port of its own (the framework would take 8081), and logs it', async () => {
    const w = await worker('http-any', {});
    const line = await w.line((l) => l.msg === 'agent HTTP server port', 'HTTP port line');
    const port = Number(line.port);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(8081);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
  });

  it('a client joining with the agent identity pushes the agent out: a new dispatch brings it back, at most AGENT_MAX_REJOINS times', async () => {
    const w = await worker('rejoin', { AGENT_MAX_REJOINS: '1' });
    const carol = await human('f-dup', 'carol');
    await suite.dispatch.createDispatch('f-dup', 'rejoin', { metadata: '{"voice":"Kore"}' });
    const first = await until(() => agentIn(carol), 'agent joins');
    await until(() => first.attributes['lk.agent.state'] === 'listening', 'agent listening');
    const intrude = async (identity: string) => {
      const r = await connect(suite.stack.lk, 'f-dup', identity);
      suite.defer(() => r.disconnect());
    };
    await intrude(first.identity);
    await w.line(
      (l) => String(l.msg).includes('DUPLICATE_IDENTITY') && l.identity === first.identity,
      'duplicate identity logged',
    );
    const second = await until(
      () => agentIn(carol, first.identity),
      'a new agent joins under another identity',
    );
    await until(() => second.attributes['lk.agent.state'] === 'listening', 'new agent listening');
    await carol.mic.say(0.8);
    await until(() => carol.heardMs() > 300, 'the new agent answers');
    // The bound: pushed out a second time, it does not come back.
    await intrude(second.identity);
    await w.line((l) => String(l.msg).includes('AGENT_MAX_REJOINS reached'), 'rejoin bound logged');
    expect((await suite.dispatch.listDispatch('f-dup')).filter((d) => d.agentName === 'rejoin')).toHaveLength(
      2,
    );
    await until(async () => (await w.value('gemini_agent_worker_jobs_running')) === 0, 'no job left running');
  });
});
