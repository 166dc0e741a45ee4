import { type Room, RoomEvent, SimulateScenarioKind } from '@livekit/rtc-node';
import { afterEach, describe, expect, it } from 'vitest';
import { RoomBridge } from '../agent/bridge/room-bridge.ts';
import { type RoomConfigInput, resolveRoomConfig } from '../agent/config.ts';
import { defaultRegistry } from '../agent/tools/index.ts';
import {
  connect,
  Human,
  type InProcessAgent,
  liveSessions,
  type Stack,
  startAgent as startInProcessAgent,
  startStack,
  until,
} from './fixtures/agent/kit.ts';

let stack: Stack | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  await stack?.close();
  stack = undefined;
}, 120_000);

/**
 * 2.5 native audio: blocking tools, thinking budgets, affective dialog and proactive audio on v1alpha,
 * and room context (joins) that only informs. The bridge's own behaviour is tested on it, so that the
 * scripted turns answer the participants, not the joins (on 3.8 a join is a turn of its own, see
 * agent-models.test.ts).
 */
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';

async function withAgent(
  roomName: string,
  config: RoomConfigInput = {},
  gemini: Parameters<typeof startStack>[0] = {},
): Promise<{ stack: Stack; agentRoom: Room; bridge: RoomBridge; states: string[] }> {
  stack = await startStack(gemini);
  return { stack, ...(await startAgent(stack, roomName, config)) };
}

/** An in-process agent in `roomName` on a running stack, closed after the test. */
async function startAgent(
  on: Stack,
  roomName: string,
  config: RoomConfigInput = {},
  identity = 'agent-test',
): Promise<InProcessAgent> {
  const agent = await startInProcessAgent(on, roomName, { model: M25, ...config }, identity);
  cleanups.push(agent.close);
  return agent;
}

async function human(s: Stack, room: string, identity: string): Promise<Human> {
  const h = await Human.join(s.lk, room, identity);
  cleanups.push(() => h.close());
  return h;
}

/** Values `lk.agent.state` took, as a participant in the room saw them. */
function watchAgentState(room: Room): string[] {
  const seen: string[] = [];
  room.on(RoomEvent.ParticipantAttributesChanged, (changed, p) => {
    if (p.identity.startsWith('agent') && changed['lk.agent.state']) seen.push(changed['lk.agent.state']);
  });
  return seen;
}

describe('room bridge (in-process) on the LiveKit dev server + Gemini emulator', { timeout: 240_000 }, () => {
  it('shared: a participant speaks, the agent answers on its track with transcripts and states', async () => {
    const { stack, bridge } = await withAgent('r-basic');
    const alice = await human(stack, 'r-basic', 'alice');
    const seen = watchAgentState(alice.room);
    await until(() => bridge.state === 'listening', 'agent listening');
    await alice.mic.say(1.0);
    await until(() => alice.heardMs('agent_audio') > 500, 'agent speech heard');
    const agentSid = alice.agentTrackSid()!;
    const user = await until(() => alice.finals(alice.mic.sid)[0], 'user transcript');
    expect(user.text).toMatch(/^\[speech \d+\.\ds\]$/);
    expect(user.attributes['lk.segment_id']).toBeTruthy();
    const agent = await until(() => alice.finals(agentSid)[0], 'agent transcript');
    expect(agent.text.length).toBeGreaterThan(0);
    expect(agent.attributes['lk.segment_id']).not.toBe(user.attributes['lk.segment_id']);
    // Interim (non-final) streams precede the final one with the same segment id.
    expect(
      alice.transcripts.some(
        (t) =>
          t.attributes['lk.transcription_final'] === 'false' &&
          t.attributes['lk.segment_id'] === agent.attributes['lk.segment_id'],
      ),
    ).toBe(true);
    await until(() => seen.includes('speaking') && seen.at(-1) === 'listening', 'speaking then listening');
    // Input reached the model as 16 kHz frames of at most 40 ms (20 ms here), straight from the FFI.
    const st = stack.gemini.stats()[0]!;
    expect(st.audioInFrames).toBeGreaterThan(0);
    expect(st.audioInSeconds / st.audioInFrames).toBeLessThanOrEqual(0.04);
  });

  it('barge-in: the user talking over the agent drops its queued speech at once', async () => {
    const long =
      'This is a long answer that goes on and on so that there is plenty of speech queued up. '.repeat(2);
    const { stack, bridge } = await withAgent(
      'r-barge',
      {},
      { pacing: 4, scenario: { turns: [{ steps: [{ say: long }] }] } },
    );
    const alice = await human(stack, 'r-barge', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.mic.say(0.8);
    await until(() => alice.heardMs() > 400, 'agent starts speaking');
    // The emulator sends the reply 4x faster than real time: most of it now waits in our queue.
    await alice.mic.say(0.8, { seed: 3 });
    const server = stack.gemini.stats()[0]!;
    await until(() => stack.gemini.stats()[0]!.interruptions > 0, 'interruption');
    await until(() => bridge.state === 'listening' || bridge.state === 'thinking', 'agent stops speaking');
    const sentMs = server.audioOutSeconds * 1000;
    const heard = alice.heardMs();
    // Without the barge-in flush everything sent would be played.
    expect(sentMs).toBeGreaterThan(3000);
    expect(heard).toBeLessThan(sentMs * 0.7);
  });

  it('tools: a server-side tool and a client RPC tool round-trip, in parallel (2.5: blocking)', async () => {
    const { stack, bridge } = await withAgent(
      'r-tools',
      {},
      {
        pacing: 4,
        scenario: {
          turns: [
            {
              steps: [
                {
                  toolCall: [
                    { name: 'get_weather', args: { city: 'Paris' } },
                    { name: 'set_light', args: { on: true, color: 'red' } },
                  ],
                },
                { say: 'Weather {{result.get_weather}} light {{result.set_light}}' },
              ],
            },
          ],
        },
      },
    );
    const alice = await human(stack, 'r-tools', 'alice');
    alice.serveLight();
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.mic.say(0.8);
    await until(() => alice.lightCalls.length > 0, 'set_light RPC');
    expect(JSON.parse(alice.lightCalls[0]!)).toEqual({ on: true, color: 'red' });
    const agentSid = alice.agentTrackSid()!;
    const said = await until(() => alice.finals(agentSid).find((t) => t.text.includes('Weather')), 'answer');
    expect(said.text).toContain('"temperature":17');
    expect(said.text).toContain('"participant":"alice"');
    const st = stack.gemini.stats()[0]!;
    expect(st.toolCalls).toBe(2);
    expect(st.toolResponses).toBe(2);
    expect(stack.gemini.stats()).toHaveLength(1); // one connection, tools or not
  });

  it('chat: an lk.chat message reaches the model and its answer is spoken and transcribed', async () => {
    const { stack, bridge } = await withAgent('r-chat', {}, { pacing: 4 });
    const alice = await human(stack, 'r-chat', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.sendChat('hello there');
    const agentSid = alice.agentTrackSid()!;
    const said = await until(() => alice.finals(agentSid).find((t) => t.text.includes('You said')), 'answer');
    expect(said.text).toContain('[Alice] hello there');
    await until(() => alice.heardMs() > 300, 'spoken answer');
  });

  it('chat while the agent speaks, the answer following on in the same playout: it listens again once both are played (#16)', async () => {
    const long =
      'This first answer goes on for a while, so that the next message comes while it plays. '.repeat(2);
    const { stack, bridge, states } = await withAgent(
      'r-chat-over',
      {},
      {
        pacing: 4,
        scenario: { turns: [{ steps: [{ say: long }] }, { steps: [{ say: 'The second answer.' }] }] },
      },
    );
    const alice = await human(stack, 'r-chat-over', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.sendChat('tell me something long');
    // The emulator sends the answer 4x faster than real time: its turn is over while it still plays.
    const turns = () => stack.gemini.stats()[0]!.turnLog;
    await until(() => turns()[0]?.completedAt, 'first turn sent');
    expect(bridge.state).toBe('speaking');
    const from = states.length;
    await alice.sendChat('and another thing');
    // The second answer, and its turnComplete, arrive while the first still plays: the agent's speech
    // goes on without a pause.
    await until(
      () => stack.gemini.stats()[0]!.turnLog.filter((t) => t.completedAt).length === 2,
      'both turns',
    );
    // Was: 'thinking' from the second message to the end of time (a drain waited for it in vain).
    await until(() => bridge.state === 'listening', 'listening once both answers played');
    expect(states.slice(from)).toEqual(['thinking', 'speaking', 'listening']);
    const agentSid = alice.agentTrackSid()!;
    await until(() => alice.finals(agentSid).find((t) => t.text === 'The second answer.'), 'second answer');
  });

  it('chat while the answer is still streaming in cuts it, and the agent thinks until it answers: it never shows listening in between (#16)', async () => {
    const long =
      'This answer streams in at the pace it plays, so a message can come in the middle of it. '.repeat(3);
    const { stack, bridge, states } = await withAgent(
      'r-chat-cut',
      {},
      { scenario: { turns: [{ steps: [{ say: long }] }, { steps: [{ say: 'The second answer.' }] }] } },
    );
    const alice = await human(stack, 'r-chat-cut', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.sendChat('tell me something long');
    await until(() => bridge.state === 'speaking', 'first answer plays');
    expect(stack.gemini.stats()[0]!.turnLog[0]?.completedAt).toBeUndefined();
    const from = states.length;
    await alice.sendChat('and another thing');
    const agentSid = alice.agentTrackSid()!;
    await until(() => alice.finals(agentSid).find((t) => t.text === 'The second answer.'), 'second answer');
    await until(() => bridge.state === 'listening', 'listening once the second answer played');
    expect(stack.gemini.stats()[0]!.turnLog[0]?.interrupted).toBe(true);
    // Was: 'listening' at the cut, while the model owed the answer (a hand-off took that for a quiet
    // moment and closed the session on the question).
    expect(states.slice(from)).toEqual(['thinking', 'speaking', 'listening']);
  });

  it('a reply cut by a 1011 close is finalised as interrupted; the next reply gets its own segment', async () => {
    const cut = 'This reply is cut short by the server';
    const { stack, bridge } = await withAgent(
      'r-1011',
      {},
      {
        pacing: 4,
        scenario: {
          turns: [
            { steps: [{ say: cut }, { close: { code: 1011, reason: 'Internal error encountered.' } }] },
          ],
        },
      },
    );
    const alice = await human(stack, 'r-1011', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.sendChat('hello there');
    const agentSid = await until(() => alice.agentTrackSid(), 'agent track');
    // The cut reply is final before anything else is said (not left open for the next reply).
    const first = await until(() => alice.finals(agentSid).find((t) => t.text.includes('cut short')), 'cut');
    await until(() => stack.gemini.stats().length >= 2 && bridge.state === 'listening', 'resumed');
    await alice.sendChat('are you there');
    const again = await until(
      () => alice.finals(agentSid).find((t) => t.text.includes('You said')),
      'the next reply',
    );
    // Two segments, not "This reply is cut short…You said …" in one.
    expect(again.text).not.toContain('cut short');
    expect(first.text).not.toContain('You said');
    expect(first.attributes['lk.segment_id']).not.toBe(again.attributes['lk.segment_id']);
    expect(first.attributes['gemini.interrupted']).toBe('true');
    expect(again.attributes['gemini.interrupted']).toBeUndefined();
    await until(() => bridge.state === 'listening', 'listening again');
  });

  it('chat: an oversize lk.chat message never reaches the model, its sender is told, the state stays listening', async () => {
    const { stack, bridge } = await withAgent('r-chat-big', {}, { pacing: 4 });
    const alice = await human(stack, 'r-chat-big', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    const states = watchAgentState(alice.room);
    await alice.sendChat('x'.repeat(1024 * 1024));
    const reply = await until(() => alice.chats[0], 'a reply to the sender');
    expect(reply.sender).toMatch(/^agent/);
    expect(reply.text).toMatch(/not sent to the assistant: it is 1024 KiB, and the limit is 16 KiB/);
    expect(stack.gemini.stats()[0]!.textInputs).toBe(0);
    // A message at the limit still goes through, and is answered.
    await alice.sendChat(`${'y'.repeat(16 * 1024 - 20)} end of message`);
    const agentSid = alice.agentTrackSid()!;
    await until(() => alice.finals(agentSid).find((t) => t.text.includes('You said')), 'answer');
    expect(stack.gemini.stats()[0]!.textInputs).toBe(1);
    expect(alice.chats).toHaveLength(1);
    // Only the accepted message made the agent think.
    expect(states.filter((x) => x === 'thinking')).toHaveLength(1);
  });

  it('chat: a message the Live session refuses as too large is answered to its sender like an oversize one', async () => {
    // This service takes at most 6 KiB a message: a 10 KB chat (under the agent's 16 KiB) is refused by
    // the service (close 1009) once, and from then on by the session before it is sent.
    const { stack, bridge } = await withAgent(
      'r-chat-refused',
      {},
      { pacing: 4, limits: { maxPayloadBytes: 6 * 1024 } },
    );
    const alice = await human(stack, 'r-chat-refused', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.sendChat('x'.repeat(10_000));
    const first = await until(() => alice.chats[0], 'a reply to the sender (refused by the service)');
    expect(first.sender).toMatch(/^agent/);
    expect(first.text).toMatch(/not sent to the assistant: it is 10 KiB, and the limit is 9 KiB/);
    await until(() => bridge.state === 'listening', 'listening again after the refusal');
    // (The states of the reconnect after the 1009 may still be on their way to alice: only `thinking`
    // tells whether a message reached the model.)
    const states = watchAgentState(alice.room);
    await alice.sendChat('z'.repeat(12_000));
    const second = await until(() => alice.chats[1], 'a reply to the sender (refused before sending)');
    expect(second.text).toMatch(/not sent to the assistant: it is 12 KiB, and the limit is 9 KiB/);
    expect(states).not.toContain('thinking');
    // A short message still goes through, and is answered: the only one the model saw.
    await alice.sendChat('hello');
    const agentSid = alice.agentTrackSid()!;
    await until(() => alice.finals(agentSid).find((t) => t.text.includes('You said')), 'answer');
    expect(stack.gemini.stats().reduce((n, st) => n + st.textInputs, 0)).toBe(1);
    expect(alice.chats).toHaveLength(2);
    // Only the accepted message made the agent think.
    expect(states.filter((x) => x === 'thinking')).toHaveLength(1);
  });

  it('goAway mid-utterance in a room: the resumed session hears the whole utterance', async () => {
    const { stack, bridge } = await withAgent('r-goaway', {}, { pacing: 4 });
    const alice = await human(stack, 'r-goaway', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    const speaking = alice.mic.say(2.0, { lead: 0.2, trail: 1.2 });
    // Retire the connection once it holds the lead and 0.8 s of the utterance.
    await until(() => stack.gemini.stats()[0]!.audioInSeconds >= 1.0, 'first second of audio');
    stack.gemini.sessions()[0]!.goAway(5000);
    await speaking;
    // The resumed session hears all 2 s (split or not by a loaded machine), not the last 1.2 s.
    const heard = () =>
      alice
        .finals(alice.mic.sid)
        .reduce((sum, t) => sum + (Number(/\[speech ([\d.]+)s\]/.exec(t.text)?.[1]) || 0), 0);
    await until(() => heard() >= 1.8, 'the whole utterance transcribed').catch((err) => {
      console.log(
        'TRANSCRIPTS',
        JSON.stringify(alice.transcripts),
        JSON.stringify(
          stack.gemini
            .stats()
            .map((x) => [x.resumed, x.audioInSeconds, x.speechStarts.length, x.speechEnds.length, x.turns]),
        ),
      );
      throw err;
    });
    const stats = stack.gemini.stats();
    expect(stats).toHaveLength(2);
    expect(stats[1]!.resumed).toBe(true);
    await until(() => alice.heardMs() > 1000, 'answer after migration');
  });

  it('a bad Gemini key shows lk.agent.state=failed with a reason; the room stays usable', async () => {
    stack = await startStack();
    const agentRoom = await connect(stack.lk, 'r-bad', 'agent-test');
    cleanups.push(() => agentRoom.disconnect());
    const bridge = new RoomBridge({
      room: agentRoom,
      config: resolveRoomConfig({}),
      tools: defaultRegistry(),
      liveSession: liveSessions(stack, 'not-the-key'),
    });
    cleanups.push(() => bridge.aclose());
    const fatal = new Promise((r) => bridge.once('fatal', r));
    await bridge.start();
    await fatal;
    const alice = await human(stack, 'r-bad', 'alice');
    const agent = await until(() => alice.room.remoteParticipants.get('agent-test'), 'agent visible');
    await until(() => agent.attributes['lk.agent.state'] === 'failed', 'failed state');
    expect(agent.attributes['lk.agent.error']).toMatch(/API key/);
    expect(agent.attributes['lk.agent.error']).not.toContain('not-the-key');
  });

  it('video: when enabled, the camera of the participant attended is sampled as ≤768 px JPEG', async () => {
    const { stack } = await withAgent('r-video', { video: { enabled: true, fps: 1 } }, { pacing: 4 });
    const alice = await human(stack, 'r-video', 'alice');
    await alice.publishCamera(1280, 720);
    await until(() => stack.gemini.stats()[0]!.videoFrames >= 2, 'video frames at the model');
  });

  it('Gemini options reach the setup: thinking budget, Google Search, video media resolution, and on v1alpha affective dialog and proactive audio', async () => {
    const { stack, bridge } = await withAgent('r-native', {
      video: { enabled: true, resolution: 'low' },
      thinkingBudget: 0,
      googleSearch: true,
      affectiveDialog: true,
      proactiveAudio: true,
    });
    await until(() => bridge.state === 'listening', 'agent listening');
    const st = stack.gemini.stats()[0]!;
    expect(st.apiVersion).toBe('v1alpha');
    expect(st.setup).toMatchObject({
      generationConfig: {
        thinkingConfig: { thinkingBudget: 0 },
        enableAffectiveDialog: true,
        mediaResolution: 'MEDIA_RESOLUTION_LOW',
      },
      proactivity: { proactiveAudio: true },
    });
    expect(st.setup?.tools).toContainEqual({ googleSearch: {} });
    // None of them by default, and the SDK's own API version.
    const { bridge: other } = await startAgent(stack, 'r-native-plain', {}, 'agent-plain');
    await until(() => other.state === 'listening', 'second agent listening');
    const def = stack.gemini.stats().find((s) => s !== st && s.setup)!;
    expect(def.apiVersion).not.toBe('v1alpha');
    expect(def.setup).not.toHaveProperty('proactivity');
    expect(def.setup?.generationConfig).not.toHaveProperty('thinkingConfig');
    expect(def.setup?.generationConfig).not.toHaveProperty('enableAffectiveDialog');
    expect(def.setup?.generationConfig).not.toHaveProperty('mediaResolution');
    expect(def.setup?.tools).not.toContainEqual({ googleSearch: {} });
  });

  it('video is off by default', async () => {
    const { stack, bridge } = await withAgent('r-novideo', {}, { pacing: 4 });
    const alice = await human(stack, 'r-novideo', 'alice');
    await alice.publishCamera(320, 240);
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.mic.say(1.0);
    await until(() => alice.finals(alice.mic.sid)[0], 'a turn went by');
    expect(stack.gemini.stats()[0]!.videoFrames).toBe(0);
  });

  it('a join during a reply is told to the model afterwards, without cutting the reply', async () => {
    const say = 'Here is a complete answer that nobody should cut short just because someone came in.';
    const { stack, bridge } = await withAgent('r-join', {}, { scenario: { turns: [{ steps: [{ say }] }] } });
    const alice = await human(stack, 'r-join', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.mic.say(0.8);
    await until(() => bridge.state === 'speaking', 'agent speaking');
    await human(stack, 'r-join', 'bob');
    const sid = alice.agentTrackSid()!;
    const answer = await until(() => alice.finals(sid)[0], 'agent transcript');
    expect(answer.text.replace(/\s+/g, ' ').trim()).toBe(say);
    expect(stack.gemini.stats()[0]!.interruptions).toBe(0);
  });

  it('the agent’s own full reconnect (the server asks for it): its track comes back and it answers again', async () => {
    const { stack, bridge, agentRoom } = await withAgent('r-agent-rejoin', {}, { pacing: 4 });
    const alice = await human(stack, 'r-agent-rejoin', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.mic.say(0.8);
    await until(() => alice.heardMs() > 300, 'first answer');
    await until(() => bridge.state === 'listening', 'reply over');
    const heard = alice.heardMs();
    const sessionSid = stack.lk.directory.getParticipant('r-agent-rejoin', 'agent-test')?.sid;
    const reconnected = new Promise<void>((r) => agentRoom.once(RoomEvent.Reconnected, () => r()));
    await agentRoom.simulateScenario(SimulateScenarioKind.SIMULATE_NODE_FAILURE);
    await reconnected;
    await until(() => {
      const sid = stack.lk.directory.getParticipant('r-agent-rejoin', 'agent-test')?.sid;
      return sid !== undefined && sid !== sessionSid;
    }, 'the agent joined again as a new session');
    await alice.mic.say(0.8, { seed: 2 });
    await until(() => alice.heardMs() > heard + 300, 'answered after the agent reconnected');
    // Same conversation: the Live session outlives the room connection.
    expect(stack.gemini.sessions()).toHaveLength(1);
  });

  it('the same identity coming back is answered: after a clean leave, and replacing a connection still open', async () => {
    const { stack, bridge } = await withAgent('r-same', {}, { pacing: 4 });
    const first = await human(stack, 'r-same', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await first.mic.say(0.8);
    await until(() => first.heardMs() > 300, 'first answer');
    await until(() => bridge.state === 'listening', 'reply over');
    // A page reload: leave, then join again under the same identity.
    await first.close();
    const second = await human(stack, 'r-same', 'alice');
    await second.mic.say(0.8, { seed: 2 });
    await until(() => second.heardMs() > 300, 'answered after rejoining');
    await until(() => bridge.state === 'listening', 'second reply over');
    // A reload that never said goodbye: the server replaces the old connection with the new one.
    const third = await human(stack, 'r-same', 'alice');
    await until(() => !second.room.isConnected, 'the old connection replaced');
    await third.mic.say(0.8, { seed: 3 });
    await until(() => third.heardMs() > 300, 'answered on the replacing connection');
    expect(stack.gemini.sessions()).toHaveLength(1);
  });

  it('a participant leaves, another joins and is answered; closing the bridge leaves no Live session open', async () => {
    const { stack, bridge } = await withAgent('r-rejoin', {}, { pacing: 4 });
    const first = await human(stack, 'r-rejoin', 'alice');
    await until(() => bridge.state === 'listening', 'agent ready');
    await first.close();
    const again = await human(stack, 'r-rejoin', 'alice2');
    await again.mic.say(0.8);
    await until(() => again.heardMs() > 300, 'answered after rejoining');
    expect(stack.gemini.sessions()).toHaveLength(1);
    await bridge.aclose();
    await until(() => stack.gemini.sessions().length === 0, 'Live session closed');
    expect(bridge.sessionCount).toBe(0);
  });
});
