/**
 * Conversation checkpoints (issue #16 part 1) with the real worker (`node agent/main.ts start`) on the
 * LiveKit dev server and the Gemini emulator: the job keeps a sealed checkpoint in room metadata, a new
 * job of the same agent in that room resumes the Gemini session with its handle (the emulator's answer
 * shows what it remembers), reseeds from the transcript tail when the handle is gone, and refuses a
 * checkpoint that is tampered with or belongs elsewhere.
 */
import { randomBytes } from 'node:crypto';
import type { RemoteParticipant } from '@livekit/rtc-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CHECKPOINT_METADATA_KEY,
  type Checkpoint,
  CheckpointError,
  checkpointKey,
  openCheckpoint,
  sealCheckpoint,
  sealedFromMetadata,
} from '../agent/checkpoint/index.ts';
import { resolveRoomConfig } from '../agent/config.ts';
import { type Human, startAgent, until } from './fixtures/agent/kit.ts';
import { listeningAgent, workerSuite } from './fixtures/agent/worker-suite.ts';
import type { AgentWorker } from './scale-helpers.ts';

const AGENT = 'cp-agent';
const suite = workerSuite(
  { pacing: 4 },
  {
    // 2.5: a chat message is one user turn, room notes only inform (as in agent-worker.test.ts).
    GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025',
    AGENT_CHECKPOINT_INTERVAL_MS: '100',
  },
);
/** The file's one worker: each test goes on from the room the one before left. */
let worker: AgentWorker;
let key: Buffer;

beforeAll(async () => {
  // The key every worker of this deployment derives from the LiveKit API secret.
  key = checkpointKey(suite.stack.lk.apiSecret);
  worker = await suite.worker(AGENT, { keep: true });
}, 180_000);

/** The display name `Human.join` gives (what the model is told in a shared room). */
function nameOf(h: Human): string {
  return h.identity.charAt(0).toUpperCase() + h.identity.slice(1);
}

/**
 * Whether `said` is the emulator's whole default answer to `text` (a reply cut by a reconnect under
 * load is finalised as it was; the answer that follows is whole).
 */
function complete(said: string, text: string): boolean {
  return said.includes(`You said "${text}"`) && /of this conversation\.( Before that: ".*"\.)?$/s.test(said);
}

/** Sends a chat message and waits for the agent's transcribed answer to it. */
async function ask(h: Human, text: string): Promise<string> {
  return (await h.ask(text, (said) => complete(said, `[${nameOf(h)}] ${text}`))).text;
}

async function metadataOf(room: string): Promise<string> {
  const [r] = await suite.rooms.listRooms([room]);
  return r?.metadata ?? '';
}

/** The room's checkpoint for the agent, opened with the deployment's key, once `ok` says it is the one. */
async function checkpointOf(
  room: string,
  ok: (cp: Checkpoint) => boolean,
  what: string,
): Promise<Checkpoint> {
  return until(async () => {
    const sealed = sealedFromMetadata(await metadataOf(room), AGENT);
    if (!sealed) return undefined;
    const cp = openCheckpoint(sealed, key, { room, agentName: AGENT });
    return ok(cp) ? cp : undefined;
  }, what);
}

/** Removes the agent from the room (its job ends, writing a final checkpoint) and dispatches a new one. */
async function replaceAgent(room: string, h: Human, old: string): Promise<RemoteParticipant> {
  await suite.rooms.removeParticipant(room, old);
  await until(
    async () => !(await suite.rooms.listParticipants(room)).some((p) => p.identity === old),
    `agent ${old} gone`,
  );
  await suite.dispatch.createDispatch(room, AGENT);
  return listeningAgent(h, old);
}

function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof CheckpointError) return err.reason;
    throw err;
  }
  return undefined;
}

describe('conversation checkpoints (real worker, dev server, Gemini emulator)', { timeout: 240_000 }, () => {
  let first: string;
  /** In cp-main from the first test to the third. */
  let alice: Human;

  it('the job keeps a sealed checkpoint in room metadata beside the application keys, readable only with the key', async () => {
    await suite.rooms.createRoom({ name: 'cp-main', metadata: JSON.stringify({ app: 'keep me' }) });
    alice = await suite.human('cp-main', 'alice', { keep: true });
    await suite.dispatch.createDispatch('cp-main', AGENT);
    first = (await listeningAgent(alice)).identity;
    expect(await ask(alice, 'my name is Ana')).toContain('That is turn 1 of this conversation.');
    const second = await ask(alice, 'the code is 42');
    expect(second).toContain('That is turn 2');
    expect(second).toContain('Before that: "[Alice] my name is Ana"');

    const cp = await checkpointOf(
      'cp-main',
      // sinceHandle 0: the handle came after the last reply (one written in between says 2).
      (c) =>
        !!c.handle &&
        c.sinceHandle === 0 &&
        c.transcript.some((t) => t.role === 'model' && t.text.includes('turn 2')),
      'checkpoint with both turns and a handle after them',
    );
    // (A reply cut by a reconnect under load would add a model turn of its own: only users' are exact.)
    expect(cp.transcript.filter((t) => t.role === 'user').map((t) => t.text)).toEqual([
      'my name is Ana',
      'the code is 42',
    ]);
    expect(cp.transcript.at(-1)).toMatchObject({ role: 'model', text: expect.stringContaining('turn 2') });
    expect(cp.transcript[0]!.speaker).toBe('Alice');
    expect(cp).toMatchObject({
      room: 'cp-main',
      agentName: AGENT,
      policy: 'shared',
      owner: { identity: first },
    });
    expect(cp.config.model).toBe('gemini-2.5-flash-native-audio-preview-12-2025');

    // Every participant can read room metadata: the application's keys are kept, the handle and the
    // transcript are not in clear, and it is no room configuration.
    const metadata = await metadataOf('cp-main');
    const o = JSON.parse(metadata) as Record<string, unknown>;
    expect(o.app).toBe('keep me');
    expect(Object.keys(o[CHECKPOINT_METADATA_KEY] as object)).toEqual([AGENT]);
    expect(metadata).not.toContain(cp.handle!);
    expect(metadata).not.toContain('the code is 42');
    expect(alice.room.metadata).toContain(CHECKPOINT_METADATA_KEY);
    expect(resolveRoomConfig({}, { roomMetadata: metadata })).toEqual(resolveRoomConfig({}));

    // Only the deployment's key opens it, and only for its room and agent name.
    const sealed = sealedFromMetadata(metadata, AGENT)!;
    expect(refusal(() => openCheckpoint(sealed, checkpointKey(randomBytes(32).toString('hex')), cp))).toBe(
      'tampered',
    );
    expect(refusal(() => openCheckpoint(sealed, key, { room: 'cp-other', agentName: AGENT }))).toBe(
      'foreign',
    );
    expect(refusal(() => openCheckpoint(sealed, key, { room: 'cp-main', agentName: 'other' }))).toBe(
      'foreign',
    );
  });

  it('a new job in the room resumes the Gemini session with the handle: the model remembers', async () => {
    const agent = await replaceAgent('cp-main', alice, first);
    await worker.line((l) => l.msg === 'resuming from checkpoint' && l.room === 'cp-main', 'resume log');
    const answer = await ask(alice, 'what was the code?');
    expect(answer).toContain('That is turn 3 of this conversation.');
    expect(answer).toContain('Before that: "[Alice] the code is 42"');
    const resumed = suite.stack.gemini.stats().filter((s) => s.resumed);
    expect(resumed.length).toBeGreaterThan(0);
    // The new job carries on the checkpoint: its owner, a higher seq, the whole tail.
    await checkpointOf(
      'cp-main',
      (c) =>
        c.owner.identity === agent.identity &&
        c.transcript.some((t) => t.role === 'model' && t.text.includes('turn 3')),
      'checkpoint of the new job',
    );
    first = agent.identity;
  });

  it('with the handles expired, the next job reseeds the model from the transcript tail and logs it', async () => {
    suite.stack.gemini.expireResumptionHandles();
    const rebuiltBefore = worker.lines.filter((l) => String(l.msg).includes('context rebuilt')).length;
    await replaceAgent('cp-main', alice, first);
    await until(
      () =>
        worker.lines.filter((l) => String(l.msg).includes('context rebuilt')).length === rebuiltBefore + 1,
      'context rebuilt log',
    );
    const answer = await ask(alice, 'and now?');
    // Three user turns in the tail, remembered: this is the fourth.
    expect(answer).toContain('That is turn 4 of this conversation.');
    expect(answer).toContain('Before that: "[Alice] what was the code?"');
  });

  it('on gemini-3.8-live the refused handle (1007 there) is rebuilt from the tail as well, declared as initial history', async () => {
    const bob = await suite.human('cp-38', 'bob');
    await suite.dispatch.createDispatch('cp-38', AGENT, { metadata: '{"model":"gemini-3.8-live"}' });
    const agent = await listeningAgent(bob);
    expect(await ask(bob, 'the code is 7')).toContain('That is turn 1 of this conversation.');
    await checkpointOf('cp-38', (c) => !!c.handle && c.transcript.length === 2, 'checkpoint with a handle');
    suite.stack.gemini.expireResumptionHandles();
    const rebuilt = () => worker.lines.filter((l) => String(l.msg).includes('context rebuilt')).length;
    const before = rebuilt();
    await replaceAgent('cp-38', bob, agent.identity);
    await until(() => rebuilt() === before + 1, 'context rebuilt log');
    const answer = await ask(bob, 'and now?');
    expect(answer).toContain('That is turn 2 of this conversation. Before that: "[Bob] the code is 7"');
    const last = suite.stack.gemini.stats().at(-1)!;
    expect(last).toMatchObject({ model: 'gemini-3.8-live', resumed: false });
    expect(last.setup?.historyConfig).toEqual({ initialHistoryInClientContent: true });
  });

  it('a tampered or foreign checkpoint is refused with a log line and the job starts fresh', async () => {
    const cp: Checkpoint = {
      v: 1,
      room: 'cp-main',
      agentName: AGENT,
      seq: 9,
      writtenAt: Date.now(),
      owner: { jobId: 'j', identity: 'agent-old' },
      model: 'gemini-2.5-flash-native-audio-preview-12-2025',
      config: resolveRoomConfig({ model: 'gemini-2.5-flash-native-audio-preview-12-2025' }) as never,
      policy: 'shared',
      pushToTalk: [],
      private: {},
      transcript: [{ role: 'user', speaker: 'alice', text: 'a forged memory' }],
    };
    const forged = (room: string, sealed: string) =>
      suite.rooms.createRoom({
        name: room,
        metadata: JSON.stringify({ [CHECKPOINT_METADATA_KEY]: { [AGENT]: sealed } }),
      });
    const good = sealCheckpoint({ ...cp, room: 'cp-tampered' }, key, {
      room: 'cp-tampered',
      agentName: AGENT,
    });
    // One character of the ciphertext changed.
    const at = good.length - 30;
    const tampered = good.slice(0, at) + (good[at] === 'A' ? 'B' : 'A') + good.slice(at + 1);
    await forged('cp-tampered', tampered);
    // Authentic, but written for another room.
    await forged('cp-foreign', sealCheckpoint(cp, key, { room: 'cp-main', agentName: AGENT }));
    // For this room, but sealed with another deployment's key.
    await forged(
      'cp-otherkey',
      sealCheckpoint({ ...cp, room: 'cp-otherkey' }, checkpointKey('another deployment secret'), {
        room: 'cp-otherkey',
        agentName: AGENT,
      }),
    );
    for (const [room, reason] of [
      ['cp-tampered', 'tampered'],
      ['cp-foreign', 'foreign'],
      ['cp-otherkey', 'tampered'],
    ] as const) {
      const bob = await suite.human(room, 'bob');
      await suite.dispatch.createDispatch(room, AGENT);
      await listeningAgent(bob);
      const log = await worker.line(
        (l) => l.room === room && String(l.msg).startsWith('checkpoint refused'),
        `refusal in ${room}`,
      );
      expect(log.reason).toBe(reason);
      expect(JSON.stringify(log)).not.toContain('forged memory');
      const answer = await ask(bob, 'hello');
      expect(answer).toContain('That is turn 1 of this conversation.');
      expect(answer).not.toContain('Before that');
      expect(worker.lines.some((l) => l.room === room && l.msg === 'resuming from checkpoint')).toBe(false);
    }
  });

  it('per-participant: every participant session starts from its own part of the checkpoint', async () => {
    const carol = await suite.human('cp-private', 'carol');
    const dave = await suite.human('cp-private', 'dave');
    const agent = await startAgent(
      suite.stack,
      'cp-private',
      { policy: 'per-participant', model: 'gemini-2.5-flash-native-audio-preview-12-2025' },
      'agent-test',
      {
        resume: {
          transcript: [],
          pushToTalk: [],
          // No handle: carol's session is seeded with her tail; dave has none and starts fresh.
          private: {
            carol: {
              transcript: [
                { role: 'user', text: 'I like green tea' },
                { role: 'model', text: 'Noted, green tea.' },
              ],
            },
          },
        },
      },
    );
    try {
      await until(
        () => agent.bridge.sessionCount === 2 && agent.bridge.state === 'listening',
        'both sessions',
      );
      const answer = async (h: Human, text: string) =>
        (await h.ask(text, (said) => complete(said, text))).text;
      const toCarol = await answer(carol, 'what do I like?');
      expect(toCarol).toContain('That is turn 2 of this conversation. Before that: "I like green tea".');
      const toDave = await answer(dave, 'what do I like?');
      expect(toDave).toContain('That is turn 1 of this conversation.');
      expect(toDave).not.toContain('Before that');
      // Her tail goes on in the next checkpoint.
      await until(
        () => agent.bridge.checkpointState().private.carol?.transcript.length === 4,
        'her tail in the checkpoint state',
      );
    } finally {
      await agent.close();
    }
  });
});
