/**
 * Graceful drain of a real agent worker (`node agent/main.ts start`) on SIGTERM, sent to the worker alone
 * as Kubernetes does: it takes no new job (a new room goes to the other worker), the reply it is speaking
 * plays to the end — the participant hears all of it and gets its final transcript — and only then does
 * the agent leave and the worker exit. A reply the model owes but never gives (the agent left `thinking`)
 * does not hold the drain to its deadline.
 */
import { dispose, RoomEvent } from '@livekit/rtc-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type GeminiEmulator, start as startGemini } from '../emulators/gemini-live/index.ts';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { Human } from './fixtures/agent/kit.ts';
import { listeningAgent } from './fixtures/agent/worker-suite.ts';
import { waitFor } from './livekit-control-helpers.ts';
import { AgentWorker } from './scale-helpers.ts';

const SLOW = 120_000;
// ~6 s of model speech: long enough that SIGTERM lands in the middle of it.
const REPLY =
  'Here is a long answer so that the worker is still speaking when it is told to stop, and it must finish.';

let lk: LiveKitDevServer;
let gemini: GeminiEmulator;
const workers: AgentWorker[] = [];
const humans: Human[] = [];

beforeAll(async () => {
  lk = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  gemini = await startGemini({
    apiKey: 'test-key',
    scenario: { turns: [{ steps: [{ say: REPLY }] }], loop: true },
  });
  const common = { livekit: lk, geminiUrl: gemini.url };
  // Wrap-up ≥ timeout: conversations end right after their current turn. A reply the model shows no
  // sign of is believed in for 4 s (the last test).
  const env = { AGENT_DRAIN_TIMEOUT_S: '300', AGENT_DRAIN_WRAP_UP_S: '300', AGENT_DRAIN_REPLY_WAIT_S: '4' };
  workers.push(await AgentWorker.start({ ...common, tag: 'A', env }));
  await workers[0]!.registered();
  // B registers later: the first room goes to A (ties go to the oldest worker).
  workers.push(await AgentWorker.start({ ...common, tag: 'B', env }));
  await workers[1]!.registered();
}, 2 * SLOW);

afterAll(async () => {
  await Promise.all(humans.splice(0).map((h) => h.close().catch(() => {})));
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await gemini?.close();
  await lk?.close();
  await dispose();
}, SLOW);

async function join(room: string, identity: string): Promise<Human> {
  const h = await Human.join(lk, room, identity);
  humans.push(h);
  return h;
}

const agentReplies = (h: Human) => h.finals().filter((t) => t.text === REPLY);

describe('SIGTERM drain', { timeout: 4 * SLOW }, () => {
  test('the reply in progress plays to its end, no new job is taken, then the worker exits', async () => {
    const [a, b] = workers as [AgentWorker, AgentWorker];
    const alice = await join('d-1', 'alice');
    await waitFor(
      async () => (await a.value('gemini_agent_live_sessions')) === 1 || undefined,
      'A serves d-1',
      SLOW,
    );
    await waitFor(() => alice.ears.size > 0 || undefined, 'agent track heard', SLOW).catch((err: Error) => {
      const seen = [...alice.room.remoteParticipants.values()].map(
        (p) =>
          `${p.identity}: ${[...p.trackPublications.values()].map((t) => `${t.name}/${t.subscribed}`).join(',')}`,
      );
      throw new Error(`${err.message}; alice sees ${seen.join('; ') || 'nobody'}\n${a.output.slice(-3000)}`);
    });

    // A full turn first: how much loud audio the whole reply is, as this participant hears it.
    await alice.mic.say(0.8);
    await waitFor(() => agentReplies(alice).length === 1 || undefined, 'first reply transcript', SLOW);
    const agent = [...alice.room.remoteParticipants.values()].find((p) => p.identity.startsWith('agent'))!;
    await waitFor(
      () => agent.attributes['lk.agent.state'] === 'listening' || undefined,
      'agent listening again',
    );

    // Second turn: SIGTERM while the agent is speaking.
    let left = false;
    alice.room.on(RoomEvent.ParticipantDisconnected, (p) => {
      if (p.identity === agent.identity) left = true;
    });
    // A pause in the conversation (the microphone sends 1.5 s of silence): on a busy machine the tail of
    // the reply reaches the participant after the agent's state says it is done.
    await alice.mic.quiet(1.5);
    const full = alice.heardMs();
    expect(full).toBeGreaterThan(2000);
    await alice.mic.say(0.8, { seed: 2 });
    // The agent finalises the user's transcript when its reply starts; then wait to hear some of it.
    await waitFor(() => alice.finals(alice.mic.sid).length === 2 || undefined, 'second user turn', SLOW);
    await waitFor(() => alice.heardMs() > full + 300 || undefined, 'second reply under way', SLOW);
    a.terminate();
    await a.line((l) => String(l.msg).startsWith('SIGTERM: draining'), 'drain start');
    expect(left).toBe(false);

    // A new room while A drains goes to B.
    await join('d-2', 'bob');
    await waitFor(
      async () => (await b.value('gemini_agent_jobs_total')) === 1 || undefined,
      'B serves d-2',
      SLOW,
    );

    // The reply is finished, not cut: all of it was heard and its final transcript arrived.
    const exit = await a.exited;
    expect(exit.code).toBe(143);
    await waitFor(() => left || undefined, 'the agent left d-1', SLOW);
    const report = `heard ${alice.heardMs() - full} ms of ${full}; finals: ${JSON.stringify(alice.finals().map((t) => t.text))}\n${a.lines
      .filter((l) => Number(l.level) >= 30 && !/event loop|not scheduled/.test(String(l.msg)))
      .slice(-25)
      .map((l) => `${l.time} ${l.pid} ${l.msg} ${l.reason ?? ''}`)
      .join('\n')}`;
    expect(alice.heardMs() - full, report).toBeGreaterThan(full * 0.85);
    expect(agentReplies(alice), report).toHaveLength(2);
    expect(a.lines.some((l) => l.msg === 'drain: ending the job at a turn boundary')).toBe(true);
    expect(a.output).not.toContain('d-2');
    // Logs name the room of the job that ended.
    expect(a.lines.find((l) => l.msg === 'drain: ending the job at a turn boundary')).toMatchObject({
      room: 'd-1',
    });
  });

  test('a reply that never comes does not hold the drain: past AGENT_DRAIN_REPLY_WAIT_S the job ends, saying why', async () => {
    // The model takes the chat message and then says nothing, ever (no output, no turnComplete): what
    // a state left 'thinking' with nothing pending looks like to the drain.
    gemini.setScenario({ turns: [{ steps: [{ waitMs: 600_000 }] }] });
    const carol = await join('d-3', 'carol');
    const agent = await listeningAgent(carol);
    // B, once A has drained (the first test); whichever serves the room.
    const b = await waitFor(
      () => workers.find((w) => w.lines.some((l) => l.msg === 'agent joined' && l.room === 'd-3')),
      'the worker serving d-3',
      SLOW,
    );
    await carol.sendChat('are you there?');
    await waitFor(
      () => agent.attributes['lk.agent.state'] === 'thinking' || undefined,
      'agent thinking',
      SLOW,
    );
    b.terminate();
    // Long before the drain's 300 s deadline (without the bound it waits for all of it).
    const ended = await b.line(
      (l) => l.msg === 'drain: ending the job at a turn boundary' && l.room === 'd-3',
      'the job in d-3 ends',
      60_000,
    );
    const gaveUp = b.lines.find((l) => String(l.msg).startsWith('drain: the model has shown no sign'));
    expect(gaveUp).toMatchObject({ room: 'd-3', state: 'thinking' });
    expect(Number(gaveUp?.silentMs)).toBeGreaterThanOrEqual(4000);
    expect(b.lines.indexOf(gaveUp!)).toBeLessThan(b.lines.indexOf(ended));
    await waitFor(() => !b.running || undefined, 'the worker exits', 60_000);
    expect((await b.exited).code).toBe(143);
  });
});
