import { type Room, RoomEvent } from '@livekit/rtc-node';
import { afterEach, describe, expect, it } from 'vitest';
import { RoomBridge } from '../agent/bridge/room-bridge.ts';
import { type RoomConfigInput, resolveRoomConfig } from '../agent/config.ts';
import { logger } from '../agent/log.ts';
import { defaultRegistry } from '../agent/tools/index.ts';
import { connect, Human, type Stack, startStack, until } from './fixtures/agent/kit.ts';

let stack: Stack | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  await stack?.close();
  stack = undefined;
});

async function withAgent(
  roomName: string,
  config: RoomConfigInput = {},
  gemini: Parameters<typeof startStack>[0] = {},
): Promise<{ stack: Stack; agentRoom: Room; bridge: RoomBridge; states: string[] }> {
  stack = await startStack(gemini);
  const agentRoom = await connect(stack.lk, roomName, 'agent-test');
  const bridge = new RoomBridge({
    room: agentRoom,
    config: resolveRoomConfig(config),
    tools: defaultRegistry(),
    gemini: { apiKey: 'test-key', baseUrl: stack.gemini.url },
    live: { reconnectBackoffMs: 50 },
    ...(process.env.AGENT_TEST_LOG && { logger: logger() }),
  });
  const states: string[] = [];
  bridge.on('state', (s) => states.push(s));
  cleanups.push(async () => {
    await bridge.aclose();
    await agentRoom.disconnect();
  });
  await bridge.start();
  return { stack, agentRoom, bridge, states };
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

describe('room bridge (in-process) on the LiveKit dev server + Gemini emulator', () => {
  it('shared: a participant speaks, the agent answers on its track with transcripts and states', async () => {
    const { stack, bridge } = await withAgent('r-basic');
    const alice = await human(stack, 'r-basic', 'alice');
    const seen = watchAgentState(alice.room);
    await until(() => alice.ears.get('agent_audio'), 'agent track subscribed');
    await until(() => bridge.state === 'listening', 'agent listening');
    await alice.mic.say(1.0);
    await until(() => alice.heardMs('agent_audio') > 500, 'agent speech heard');
    const agentSid = alice.agentTrackSid()!;
    const user = await until(() => alice.finals(alice.mic.sid)[0], 'user transcript');
    expect(user.text).toMatch(/^\[speech (0\.9|1\.0|1\.1)s\]$/);
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
  });
});
