import { type Room, RoomEvent } from '@livekit/rtc-node';
import { afterEach, describe, expect, it } from 'vitest';
import type { RoomBridge } from '../agent/bridge/room-bridge.ts';
import type { RoomConfigInput } from '../agent/config.ts';
import { Human, type Stack, startAgent, startStack, until } from './fixtures/agent/kit.ts';

let stack: Stack | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  await stack?.close();
  stack = undefined;
}, 120_000);

async function withAgent(room: string, config: RoomConfigInput): Promise<{ s: Stack; bridge: RoomBridge }> {
  stack = await startStack({ pacing: 4 });
  const { bridge, close } = await startAgent(stack, room, config);
  cleanups.push(close);
  return { s: stack, bridge };
}

async function humans(s: Stack, room: string, ...ids: string[]): Promise<Human[]> {
  const out: Human[] = [];
  for (const id of ids) {
    const h = await Human.join(s.lk, room, id);
    cleanups.push(() => h.close());
    out.push(h);
  }
  return out;
}

function attributeValues(room: Room, key: string): string[] {
  const seen: string[] = [];
  room.on(RoomEvent.ParticipantAttributesChanged, (changed) => {
    if (changed[key] !== undefined) seen.push(changed[key]);
  });
  return seen;
}

const seconds = (t: string) => Number(/\[speech ([\d.]+)s\]/.exec(t)?.[1]);

describe('multi-user policies with two talking participants', { timeout: 240_000 }, () => {
  it('shared: overlapping talkers are mixed into one input; each solo turn is attributed to its talker', async () => {
    const { s, bridge } = await withAgent('p-shared', { policy: 'shared' });
    const [alice, bob] = await humans(s, 'p-shared', 'alice', 'bob');
    await until(() => bridge.state === 'listening', 'agent ready');
    // Alice 0.3–1.3 s, Bob 1.0–2.0 s: together one 1.7 s stretch of speech (a loaded machine may shift
    // the two starts a little; the floor policy would hear Alice's 1.0 s only).
    await Promise.all([alice!.mic.say(1.0, { lead: 0.3 }), bob!.mic.say(1.0, { lead: 1.0, seed: 5 })]);
    const mixed = await until(() => alice!.finals().find((t) => t.text.startsWith('[speech')), 'mixed turn');
    expect(seconds(mixed.text)).toBeGreaterThan(1.3);
    expect([alice!.mic.sid, bob!.mic.sid]).toContain(mixed.attributes['lk.transcribed_track_id']);
    await until(() => bridge.state === 'listening', 'answer done');
    await bob!.mic.say(0.8, { seed: 9 });
    const solo = await until(() => alice!.finals(bob!.mic.sid).find((t) => t !== mixed), "bob's turn");
    expect(seconds(solo.text)).toBeLessThan(1.1);
  });

  it('floor: the first talker holds the floor and the other is not forwarded until it is released', async () => {
    const { s, bridge } = await withAgent('p-floor', { policy: 'floor', floorReleaseMs: 1500 });
    const [alice, bob] = await humans(s, 'p-floor', 'alice', 'bob');
    const floors = attributeValues(bob!.room, 'lk.agent.floor');
    await until(() => bridge.state === 'listening', 'agent ready');
    await Promise.all([alice!.mic.say(1.0, { lead: 0.3 }), bob!.mic.say(1.0, { lead: 1.0, seed: 5 })]);
    const first = await until(() => alice!.finals(alice!.mic.sid)[0], "alice's turn");
    // Only Alice's second of speech reached the model, not the 1.5 s mix.
    expect(seconds(first.text)).toBeLessThan(1.4);
    expect(floors).toContain('alice');
    expect(alice!.finals(bob!.mic.sid)).toHaveLength(0);
    await until(() => bridge.state === 'listening' && bridge.floor === undefined, 'floor released');
    await bob!.mic.say(0.8, { seed: 9 });
    await until(() => alice!.finals(bob!.mic.sid)[0], "bob's turn after release");
    expect(floors).toContain('bob');
  });

  it('per-participant: a private session and agent track per participant', async () => {
    const { s, bridge } = await withAgent('p-private', { policy: 'per-participant' });
    const [alice, bob] = await humans(s, 'p-private', 'alice', 'bob');
    await until(() => bridge.sessionCount === 2, 'two sessions');
    await until(() => bridge.state === 'listening', 'agent ready');
    expect(s.gemini.sessions()).toHaveLength(2);
    expect(
      alice!.room.remoteParticipants.get('agent-test')?.attributes['lk.agent.push_to_talk'],
    ).toBeUndefined();
    await alice!.mic.say(1.0);
    await until(() => alice!.heardMs('agent_audio_alice') > 500, "alice's answer on her track");
    await until(
      () => alice!.finals(alice!.agentTrackSid('agent_audio_alice')).length > 0,
      "alice's agent transcript",
    );
    expect(alice!.heardMs('agent_audio_bob')).toBe(0);
    // Each private track reaches its participant only: the others see it listed and are refused it.
    expect(bob!.agentTrackSid('agent_audio_alice')).toBeDefined();
    expect(bob!.hasTrack('agent_audio_alice')).toBe(false);
    expect(alice!.hasTrack('agent_audio_bob')).toBe(false);
    // Alice's conversation is hers: Bob gets none of its transcripts.
    expect(bob!.finals(alice!.mic.sid)).toHaveLength(0);
    expect(bob!.finals(bob!.agentTrackSid('agent_audio_alice'))).toHaveLength(0);
    await bob!.close();
    await until(() => bridge.sessionCount === 1, 'bob left, his session closed');
    // Bob comes back under the same identity (a page reload): a private session and track again.
    const [again] = await humans(s, 'p-private', 'bob');
    await until(() => bridge.sessionCount === 2, "bob's session reopened");
    await again!.mic.say(1.0, { seed: 2 });
    await until(() => again!.heardMs('agent_audio_bob') > 500, "bob's answer on his new track");
    // And once more without leaving first: the new connection replaces the open one.
    const [replacing] = await humans(s, 'p-private', 'bob');
    await until(() => !again!.room.isConnected, 'the old connection replaced');
    await until(() => bridge.state === 'listening', 'agent ready for the replacing connection');
    await replacing!.mic.say(1.0, { seed: 3 });
    await until(() => replacing!.heardMs('agent_audio_bob') > 500, 'answered on the replacing connection');
    expect(bridge.sessionCount).toBe(2);
  });

  it('push-to-talk: only audio between ptt.start and ptt.end reaches the model', async () => {
    const { s, bridge } = await withAgent('p-ptt', { policy: 'shared', pushToTalk: true });
    const [alice] = await humans(s, 'p-ptt', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    // Clients learn from the agent that this room is push-to-talk (the web demo shows its control).
    await until(
      () => alice!.room.remoteParticipants.get('agent-test')?.attributes['lk.agent.push_to_talk'] === 'true',
      'the push-to-talk attribute',
    );
    let talked = 0;
    let quiet = 0;
    bridge.on('talk', (id, talking) => {
      if (id !== 'alice') return;
      if (talking) talked++;
      else quiet++;
    });
    await alice!.mic.say(3.0, { trail: 0.3 }); // 3.6 s, heard by the bridge but not forwarded
    await until(() => talked === 1 && quiet === 1, 'bridge heard the first utterance end');
    // Its speech went by 400 ms (of audio) before the bridge called it quiet: had it been forwarded,
    // the emulator would hold seconds of it by now.
    expect(s.gemini.stats()[0]!.audioInSeconds).toBeLessThan(0.5);
    const lp = alice!.room.localParticipant!;
    const rpc = (method: string) => lp.performRpc({ destinationIdentity: 'agent-test', method, payload: '' });
    expect(JSON.parse(await rpc('ptt.start'))).toEqual({ ok: true });
    await alice!.mic.say(0.8, { trail: 0.3, seed: 4 }); // 1.4 s
    await until(() => quiet === 2, 'bridge heard the second utterance end');
    await rpc('ptt.end');
    const turn = await until(() => alice!.finals(alice!.mic.sid)[0], 'ptt turn');
    expect(turn.text).toMatch(/^\[speech /);
    const st = s.gemini.stats()[0]!;
    // On 3.8 Alice's join is a (silent) context turn of its own before it.
    expect(st.turnLog.map((t) => t.trigger)).toContain('activityEnd');
    expect(st.audioInSeconds).toBeGreaterThan(1.0);
    await until(() => alice!.heardMs() > 300, 'answer');
  });

  it('push-to-talk: a hold under way when an earlier job stopped is restored from its checkpoint', async () => {
    stack = await startStack({ pacing: 4 });
    const s = stack;
    const [alice] = await humans(s, 'p-ptt-resume', 'alice');
    const { bridge, close } = await startAgent(
      s,
      'p-ptt-resume',
      { policy: 'shared', pushToTalk: true },
      'agent-test',
      {
        resume: { transcript: [], private: {}, pushToTalk: ['alice'] },
      },
    );
    cleanups.push(close);
    await until(() => bridge.state === 'listening', 'agent ready');
    expect(bridge.checkpointState().pushToTalk).toEqual(['alice']);
    // Her hold goes on: her speech reaches the model without a new ptt.start, and her ptt.end ends the turn.
    await alice!.mic.say(0.8, { trail: 0.3, seed: 4 });
    await until(() => s.gemini.stats()[0]!.audioInSeconds > 1.0, 'her held speech forwarded');
    const lp = alice!.room.localParticipant!;
    await lp.performRpc({ destinationIdentity: 'agent-test', method: 'ptt.end', payload: '' });
    await until(() => s.gemini.stats()[0]!.turnLog.some((t) => t.trigger === 'activityEnd'), 'ptt turn');
    expect(bridge.checkpointState().pushToTalk).toEqual([]);
  });

  it('floor: the holder named by the checkpoint holds it again when the new job starts', async () => {
    stack = await startStack({ pacing: 4 });
    const [alice] = await humans(stack, 'p-floor-resume', 'alice', 'bob');
    const floors = attributeValues(alice!.room, 'lk.agent.floor');
    const { bridge, close } = await startAgent(
      stack,
      'p-floor-resume',
      { policy: 'floor', floorReleaseMs: 1500 },
      'agent-test',
      {
        resume: { transcript: [], private: {}, pushToTalk: [], floor: 'bob' },
      },
    );
    cleanups.push(close);
    await until(() => bridge.state === 'listening', 'agent ready');
    // Held again from the start (released by the usual rule after floorReleaseMs of his silence).
    await until(() => floors.length > 0, 'lk.agent.floor');
    expect(floors[0]).toBe('bob');
  });
});
