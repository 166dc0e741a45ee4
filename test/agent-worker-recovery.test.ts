/**
 * Crash recovery (#16, docs/recovery.md) with two real workers on the LiveKit dev server, which does
 * what livekit-server does when a job process or a worker dies: nothing. A killed job process is
 * brought back by its own worker, a killed worker's conversation by the other worker; a clean end is
 * left alone, and a recovery dispatch a client forged is refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RemoteParticipant } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';
import { checkpointKey, openCheckpoint, sealedFromMetadata } from '../agent/checkpoint/index.ts';
import { publishDrain, writeJobRecord } from '../agent/ops/channel.ts';
import { recoveryKey, sealRecovery } from '../agent/recovery/seal.ts';
import { type Human, until } from './fixtures/agent/kit.ts';
import { agentIn, listeningAgent, workerSuite } from './fixtures/agent/worker-suite.ts';
import { connectParticipant } from './livekit-control-helpers.ts';
import type { AgentWorker } from './scale-helpers.ts';

/** Every worker polls every ~1 s with a 2 s grace. */
const suite = workerSuite(
  { pacing: 4 },
  { AGENT_HTTP_PORT: '0', AGENT_RECOVERY_POLL_S: '1', AGENT_RECOVERY_GRACE_S: '2' },
  // A killed agent's participant goes after the resume grace (livekit-server: ICE failure, ~15–20 s);
  // shorter here so that the tests do not wait for it.
  { reconnectGrace: 3 },
);

const POLLS = 'gemini_agent_worker_recovery_polls_total';

/** The room's dispatches of `agentName` (the dev server also lists the room's automatic dispatch). */
async function dispatchesOf(room: string, agentName = room) {
  return (await suite.dispatch.listDispatch(room)).filter((d) => d.agentName === agentName);
}
const RECOVERIES = 'gemini_agent_worker_recoveries_total';
/** The part of a reply that a kill cut before the model produced it: nobody may hear it afterwards. */
const CUT_REST = 'and this rest of the cut reply nobody asked for again.';
/** What alice's second utterance says (the emulator hears it so: it recognises no words). */
const ASKED = 'What is the capital of France?';
/**
 * The agent that came back goes on with the answer the death cut, to what alice said just before it,
 * which the resumed session's handle predates — so its model was told it (the emulator answers text
 * with `You said "…". That is turn N…`), and she need not say it again.
 */
const OWED = `You said "[alice] ${ASKED}". That is turn 2 of this conversation.`;

/** The room's checkpoint for `agentName`, opened with the workers' key. */
async function checkpointIn(room: string, agentName: string) {
  const sealed = sealedFromMetadata((await suite.rooms.listRooms([room]))[0]?.metadata, agentName);
  return sealed
    ? openCheckpoint(sealed, checkpointKey(suite.stack.lk.apiSecret), { room, agentName })
    : undefined;
}

/** A worker of agent name `name`; registered. */
function worker(name: string, tag: string, env: Record<string, string> = {}): Promise<AgentWorker> {
  return suite.worker(tag, { env: { AGENT_NAME: name, ...env } });
}

/** Two such workers. */
async function workers(name: string, env: Record<string, string> = {}): Promise<[AgentWorker, AgentWorker]> {
  return Promise.all([worker(name, `${name}-a`, env), worker(name, `${name}-b`, env)]);
}

/** The worker running the job of `room`, and that job's record (its process id). */
async function owner(pair: AgentWorker[], room: string) {
  return until(() => {
    for (const w of pair) {
      const job = w.jobIn(room);
      if (job) return { w, job, other: pair.find((x) => x !== w)! };
    }
    return undefined;
  }, `the job record of ${room}`);
}

/**
 * A conversation under way: alice has heard the agent answer once, the room's checkpoint holds a
 * resumption handle from after that answer (the emulator gives one between replies), and the agent is
 * answering her second utterance ({@link ASKED}) — the tests kill it mid-reply. `cut`: that reply stops
 * halfway on the Live socket (the model's turn in flight, no handle for it), and the room's checkpoint
 * holds the utterance and the reply so far as the turns after its handle.
 */
async function conversation(room: string, agentName: string, cut = true) {
  if (cut) {
    suite.stack.gemini.setScenario({
      turns: [
        { steps: [{ say: 'Hello, how can I help?' }] },
        {
          hear: ASKED,
          steps: [{ say: 'Here is the first half of it,' }, { waitMs: 60_000 }, { say: CUT_REST }],
        },
      ],
    });
    suite.defer(async () => suite.stack.gemini.setScenario(undefined));
  }
  const alice = await suite.human(room, 'alice');
  await suite.dispatch.createDispatch(room, agentName, { metadata: '{"voice":"Kore"}' });
  const agent = await listeningAgent(alice);
  await alice.mic.say(0.8);
  await until(() => alice.heardMs() > 300, 'first answer');
  await until(async () => {
    const cp = await checkpointIn(room, agentName);
    return cp?.handle && cp.transcript.some((t) => t.role === 'model');
  }, 'a checkpoint with a handle after the first answer');
  const heard = alice.heardMs();
  await alice.mic.say(0.8);
  await until(() => alice.heardMs() > heard + 300, 'second answer under way');
  if (!cut) return { alice, agent };
  const cp = await until(async () => {
    const c = await checkpointIn(room, agentName);
    return c?.transcript.at(-1)?.cut ? c : undefined;
  }, 'a checkpoint with the reply under way');
  expect(cp.transcript.slice(-(cp.sinceHandle ?? 0))).toEqual([
    { role: 'user', speaker: 'alice', text: ASKED },
    { role: 'model', text: 'Here is the first half of it,', cut: true },
  ]);
  // From now on the model gives its default answers (the reply under way keeps its steps).
  suite.stack.gemini.setScenario(undefined);
  return { alice, agent };
}

/**
 * The agent that came back first goes on with the answer it owed ({@link OWED}), once; then it answers
 * alice's next utterance, and heard all of it: the emulator transcribes an utterance as `[speech N.Ns]`,
 * so a cut start would show as a shorter one. Its Live session runs with the room's configuration
 * (voice Kore), carried through the sealed dispatch.
 */
async function answersInFull(alice: Human, gone: string, since: number): Promise<RemoteParticipant> {
  const back = await until(() => agentIn(alice, gone), 'the new agent joins');
  // Nothing of the reply the death cut (its rest, or all of it again) comes first: people would hear
  // it as a stray sentence.
  const spoken = () => {
    const voice = new Set([...back.trackPublications.values()].map((p) => p.sid));
    return alice.finals().filter((x) => voice.has(x.attributes['lk.transcribed_track_id']));
  };
  const owed = await until(() => spoken()[0], "the new agent's first words");
  expect(owed.text).toBe(OWED);
  await listeningAgent(alice, gone);
  const heard = alice.heardMs();
  const finals = alice.finals(alice.mic.sid).length;
  await alice.mic.say(1.5);
  await until(() => alice.heardMs() > heard + 300, 'the new agent answers');
  const t = await until(
    () =>
      alice
        .finals(alice.mic.sid)
        .slice(finals)
        .find((x) => /\[speech [\d.]+s\]/.test(x.text)),
    'the transcript of what alice said to the new agent',
  );
  expect(Number(/\[speech ([\d.]+)s\]/.exec(t.text)?.[1])).toBeGreaterThanOrEqual(1.4);
  // What the new agent says next answers that utterance: the owed answer came once.
  const next = await until(() => spoken()[1], "the new agent's answer to alice's next utterance");
  expect(next.text).toBe(t.text);
  expect(alice.finals().filter((x) => x.text.includes(CUT_REST))).toEqual([]);
  const fresh = suite.stack.gemini.stats().filter((s) => s.openedAt >= since);
  expect(fresh.length).toBeGreaterThan(0);
  for (const s of fresh) expect(JSON.stringify(s.setup)).toContain('"Kore"');
  // The model remembers: the new agent's Live session continued the dead one's (the checkpoint's
  // resumption handle), where without the checkpoint it would open a fresh session.
  const earlier = new Set(
    suite.stack.gemini
      .stats()
      .filter((s) => s.openedAt < since)
      .map((s) => s.sessionId),
  );
  expect(fresh.some((s) => s.resumed && earlier.has(s.sessionId))).toBe(true);
  return back;
}

describe('crash recovery: an agent comes back after its job process or worker died', {
  timeout: 300_000,
}, () => {
  it('kill -9 of the job process mid-reply: its worker brings the agent back at once; it goes on with the answer it owed, once, remembering the question (its handle predates it), hears everything said after, and nothing of the cut reply is heard', async () => {
    const pair = await workers('rec-job');
    // The second reply stops halfway on the Live socket, so that the kill falls inside a generation
    // (the model's turn in flight, no resumption handle for it) and not only inside the playout.
    const { alice, agent } = await conversation('rec-job', 'rec-job');
    const { w, job, other } = await owner(pair, 'rec-job');
    expect(job.identity).toBe(agent.identity);
    expect(
      suite.stack.gemini
        .stats()
        .find((s) => s.closedAt === undefined && s.turnLog.some((r) => r.index === 1 && !r.completedAt)),
    ).toBeDefined();
    const killedAt = Date.now();
    process.kill(job.pid, 'SIGKILL');
    await w.line(
      (l) => l.msg === 'recovery: asked for a new dispatch of this agent' && l.room === 'rec-job',
      'recovery dispatch',
    );
    await answersInFull(alice, agent.identity, killedAt);
    // The dead agent was removed at once (not after the server's timeout), and only one came back.
    expect((await suite.rooms.listParticipants('rec-job')).map((p) => p.identity)).not.toContain(
      agent.identity,
    );
    const ours = await dispatchesOf('rec-job');
    expect(ours).toHaveLength(2);
    // The recovery dispatch carries the room's configuration sealed, not in the clear.
    const sealed = ours.find((d) => d.metadata.includes('gemini.recovery'));
    expect(sealed?.metadata).not.toContain('Kore');
    expect(await w.value(RECOVERIES, { cause: 'job', outcome: 'dispatched' })).toBe(1);
    // The other worker polled after the death and did nothing: the job had ended (its worker lived).
    const polls = await other.value(POLLS);
    await until(async () => (await other.value(POLLS)) >= polls + 2, 'two more polls of the other worker');
    expect(await other.value(RECOVERIES)).toBe(0);
    expect(await dispatchesOf('rec-job')).toHaveLength(2);
  });

  it('kill -9 of the worker with its job processes: the other worker brings the agent back', async () => {
    const pair = await workers('rec-worker');
    const { alice, agent } = await conversation('rec-worker', 'rec-worker');
    const { w, other } = await owner(pair, 'rec-worker');
    const killedAt = Date.now();
    await w.stop();
    await other.line(
      (l) => l.msg === 'recovery: asked for a new dispatch of this agent' && l.room === 'rec-worker',
      'recovery dispatch by the surviving worker',
    );
    await answersInFull(alice, agent.identity, killedAt);
    expect(await other.value(RECOVERIES, { cause: 'worker', outcome: 'dispatched' })).toBe(1);
    expect(await dispatchesOf('rec-worker')).toHaveLength(2);
  });

  it('a worker started after the agent died brings it back: the room checkpoint says it was there', async () => {
    const w = await worker('rec-late', 'rec-late-a');
    const { alice, agent } = await conversation('rec-late', 'rec-late');
    const killedAt = Date.now();
    await w.stop();
    await until(() => !alice.room.remoteParticipants.has(agent.identity), 'the dead agent goes');
    // Nobody saw the agent but the dead worker: only the checkpoint tells the new one.
    const late = await worker('rec-late', 'rec-late-b');
    await late.line(
      (l) => l.msg === 'recovery: asked for a new dispatch of this agent' && l.room === 'rec-late',
      'recovery dispatch by the worker started afterwards',
    );
    await answersInFull(alice, agent.identity, killedAt);
  });

  it('what an earlier worker left in the load directory is neither recovered nor a drain', async () => {
    // A worker killed, or one whose pid a new worker got (pids wrap), leaves its records and notice.
    const dir = mkdtempSync(join(tmpdir(), 'rec-stale-'));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    writeJobRecord(dir, {
      jobId: 'AJ_stale',
      pid: deadPid,
      room: 'rec-stale',
      agentName: 'rec-stale',
      identity: 'agent-AJ_stale',
      metadata: '',
      attempt: 0,
    });
    publishDrain(dir, { timeoutMs: 60_000, wrapUpMs: 60_000 });
    await suite.human('rec-stale', 'alice');
    const w = await worker('rec-stale', 'rec-stale-a', { AGENT_LOAD_DIR: dir });
    expect(readdirSync(dir).filter((f) => f === 'drain' || f.startsWith('job-'))).toEqual([]);
    const polls = await w.value(POLLS);
    await until(async () => (await w.value(POLLS)) >= polls + 2, 'two polls of the new worker');
    expect(await w.value(RECOVERIES)).toBe(0);
    expect(await dispatchesOf('rec-stale')).toHaveLength(0);
  });

  it('a clean end while people stay (drain) is not recovered', async () => {
    // Wrap-up ≥ timeout: the conversation ends right after its current turn.
    const pair = await workers('rec-clean', { AGENT_DRAIN_TIMEOUT_S: '60', AGENT_DRAIN_WRAP_UP_S: '60' });
    const { alice, agent } = await conversation('rec-clean', 'rec-clean', false);
    const { w, other } = await owner(pair, 'rec-clean');
    w.terminate();
    await until(() => !alice.room.remoteParticipants.has(agent.identity), 'the agent leaves');
    await w.exited;
    const polls = await other.value(POLLS);
    // Past the grace, twice: a wrong decision would have been taken by now.
    await until(async () => (await other.value(POLLS)) >= polls + 3, 'three more polls of the other worker');
    expect(await other.value(RECOVERIES)).toBe(0);
    expect(await dispatchesOf('rec-clean')).toHaveLength(1);
    expect(agentIn(alice)).toBeUndefined();
  });

  it('a recovery dispatch forged through a client token (roomConfig.agents) is refused, and never laundered into a real one', async () => {
    const pair = await workers('rec-forged');
    // A marker under a key the client made up; and a genuine one taken from another room.
    const forged = JSON.stringify({
      'gemini.recovery': `r1.${Buffer.from('{}').toString('base64url')}.AAAA`,
      voice: 'Kore',
    });
    const replayed = JSON.stringify({
      'gemini.recovery': sealRecovery(
        {
          room: 'elsewhere',
          agentName: 'rec-forged',
          from: { jobId: 'AJ_x', identity: 'agent-AJ_x' },
          cause: 'job',
          attempt: 1,
          at: Date.now(),
          metadata: '',
        },
        recoveryKey(suite.stack.lk.apiSecret),
      ),
    });
    const cases = [
      { room: 'rec-forged-1', metadata: forged, reason: 'tampered' },
      { room: 'rec-forged-2', metadata: replayed, reason: 'foreign room or agent' },
    ];
    for (const c of cases) {
      const eve = await connectParticipant(suite.stack.lk, c.room, 'eve', [
        { agentName: 'rec-forged', metadata: c.metadata },
      ]);
      suite.defer(() => eve.disconnect());
      const refused = await Promise.any(
        pair.map((w) =>
          w.line(
            (l) => String(l.msg).startsWith('recovery dispatch refused') && l.room === c.room,
            `refusal in ${c.room}`,
          ),
        ),
      );
      expect(refused.reason).toBe(c.reason);
    }
    const polls = await Promise.all(pair.map((w) => w.value(POLLS)));
    await until(
      async () => (await Promise.all(pair.map((w) => w.value(POLLS)))).every((n, i) => n >= polls[i]! + 3),
      'three more polls of each worker',
    );
    for (const c of cases) {
      const agents = (await suite.rooms.listParticipants(c.room)).filter((p) =>
        p.identity.startsWith('agent'),
      );
      expect(agents).toEqual([]);
      expect(await dispatchesOf(c.room, 'rec-forged')).toHaveLength(1);
    }
    for (const w of pair) expect(await w.value(RECOVERIES)).toBe(0);
  });
});
