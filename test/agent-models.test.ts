/**
 * The agent follows its model (#13) through the real SDK against the emulator, which behaves per model:
 * on gemini-3.8-live a tool runs non-blocking (the model talks on, then voices the result when idle) and
 * the agent does not sit at `thinking` meanwhile; context between replies never cuts a reply; token
 * usage reaches the metrics and the job's closing line.
 */
import type { RpcInvocationData } from '@livekit/rtc-node';
import { afterEach, describe, expect, it } from 'vitest';
import { RoomBridge } from '../agent/bridge/room-bridge.ts';
import { type RoomConfigInput, resolveRoomConfig } from '../agent/config.ts';
import type { Logger } from '../agent/log.ts';
import { startJobOps } from '../agent/ops/job.ts';
import { defaultRegistry } from '../agent/tools/index.ts';
import { connect, Human, liveSessions, type Stack, startStack, until } from './fixtures/agent/kit.ts';

let stack: Stack | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  await stack?.close();
  stack = undefined;
}, 120_000);

/** A logger that keeps what it is given (the job's lines), as pino would get it. */
function recordingLogger(lines: { obj: Record<string, unknown>; msg: string }[]): Logger {
  const log = (a: unknown, b?: unknown) => {
    if (typeof a === 'string') lines.push({ obj: {}, msg: a });
    else lines.push({ obj: a as Record<string, unknown>, msg: String(b ?? '') });
  };
  const l = { info: log, warn: log, error: log, debug: () => {}, trace: () => {}, fatal: log };
  return { ...l, child: () => recordingLogger(lines) } as unknown as Logger;
}

/** A room bridge with job operations attached (metrics, traces, the closing line). */
async function agentWithOps(room: string, config: RoomConfigInput) {
  if (!stack) throw new Error('no stack');
  const agentRoom = await connect(stack.lk, room, 'agent-test');
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger = recordingLogger(lines);
  const resolved = resolveRoomConfig(config);
  // No load directory: no drain watch (its limits unused).
  const ops = startJobOps({
    room: agentRoom,
    logger,
    dir: undefined,
    shutdown: () => {},
    replyWaitMs: 15_000,
    takeOverWaitMs: 20_000,
  });
  const bridge = new RoomBridge({
    room: agentRoom,
    config: resolved,
    tools: defaultRegistry(),
    liveSession: liveSessions(stack),
  });
  const states: string[] = [];
  bridge.on('state', (s) => states.push(s));
  ops.attach(bridge, { model: resolved.model });
  const close = async () => {
    await bridge.aclose();
    await ops.aclose();
    await agentRoom.disconnect();
  };
  cleanups.push(close);
  await bridge.start();
  return { bridge, ops, lines, states, close };
}

describe('the agent on gemini-3.8-live', { timeout: 120_000 }, () => {
  it('a tool runs non-blocking: the model talks on while it runs, then voices its result once idle', async () => {
    const talk = 'Switching the light on for you while we keep talking.';
    const steps = [
      { say: 'One moment, please.' },
      { toolCall: { name: 'set_light', args: { on: true }, onResult: 'The light says {{result}}' } },
      { say: talk },
    ];
    stack = await startStack({
      pacing: 4,
      // Room context (Alice joining) is a turn of its own on 3.8: the model keeps quiet about it. The call
      // comes while the model is already speaking, and it goes on speaking.
      respond: (t) => ({ steps: t.trigger === 'speech' ? steps : [] }),
    });
    const { bridge, states } = await agentWithOps('m-nonblocking', {});
    const alice = await Human.join(stack.lk, 'm-nonblocking', 'alice');
    cleanups.push(() => alice.close());
    // The client tool answers only when the test says so: it is still running while the model talks.
    let answer!: () => void;
    const gate = new Promise<void>((r) => {
      answer = r;
    });
    const calls: string[] = [];
    alice.room.localParticipant!.registerRpcMethod('set_light', async (d: RpcInvocationData) => {
      calls.push(d.payload);
      await gate;
      return JSON.stringify({ ok: true });
    });
    await until(() => bridge.state === 'listening', 'agent ready');
    const setup = stack.gemini.stats()[0]!.setup as { tools?: { functionDeclarations?: object[] }[] };
    expect(setup.tools?.[0]?.functionDeclarations).toContainEqual(
      expect.objectContaining({ name: 'set_light', behavior: 'NON_BLOCKING' }),
    );
    await alice.mic.say(0.8);
    await until(() => calls.length === 1, 'set_light called');
    const sid = await until(() => alice.agentTrackSid(), 'agent track');
    // The model's own words arrive, and its turn ends, while the tool is still running…
    await until(() => alice.finals(sid).find((t) => t.text.includes('keep talking')), 'talk on');
    await until(() => bridge.state === 'listening', 'listening while the tool runs');
    expect(stack.gemini.stats()[0]!.toolResponses).toBe(0);
    // …and the agent never went (back) to `thinking` for it: speaking, then listening.
    const spoke = states.indexOf('speaking');
    expect(spoke).toBeGreaterThan(-1);
    expect(states.slice(spoke)).not.toContain('thinking');
    answer();
    const said = await until(
      () => alice.finals(sid).find((t) => t.text.includes('The light says')),
      'result',
    );
    expect(said.text).toContain('"ok":true');
    const st = stack.gemini.stats()[0]!;
    expect(st.toolResponses).toBe(1);
    expect(st.interruptions).toBe(0);
  });

  it('a join during a reply goes to the model after it, completing its turn (3.x waits otherwise), and cuts nothing', async () => {
    const say = 'Here is a complete answer that nobody should cut short just because someone came in.';
    stack = await startStack({
      respond: (t) => (t.trigger === 'clientContent' ? { steps: [] } : { steps: [{ say }] }),
    });
    const { bridge } = await agentWithOps('m-join', {});
    const alice = await Human.join(stack.lk, 'm-join', 'alice');
    cleanups.push(() => alice.close());
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.mic.say(0.8);
    await until(() => bridge.state === 'speaking', 'agent speaking');
    const bob = await Human.join(stack.lk, 'm-join', 'bob');
    cleanups.push(() => bob.close());
    const sid = alice.agentTrackSid()!;
    const answer = await until(() => alice.finals(sid)[0], 'agent transcript');
    expect(answer.text.replace(/\s+/g, ' ').trim()).toBe(say);
    // The context was a complete turn of its own: the model took it in (proactive audio: silently).
    await until(
      () => stack!.gemini.stats()[0]!.silentTurns >= 1,
      'the join reached the model as a complete turn',
    );
    expect(stack.gemini.stats()[0]!.interruptions).toBe(0);
  });

  it('token usage of a scripted conversation: counters by direction, modality and model; the closing line has the totals', async () => {
    stack = await startStack({ pacing: 4 });
    const { bridge, ops, lines, close } = await agentWithOps('m-usage', {});
    const alice = await Human.join(stack.lk, 'm-usage', 'alice');
    cleanups.push(() => alice.close());
    await until(() => bridge.state === 'listening', 'agent ready');
    await alice.sendChat('hello there');
    await until(() => stack!.gemini.stats()[0]!.turns >= 1 && bridge.state === 'listening', 'answered');
    const sid = alice.agentTrackSid()!;
    await until(() => alice.finals(sid)[0], 'answer transcribed');
    const json = await ops.metrics.snapshot();
    const tokens = json.find((x) => x.name === 'gemini_agent_tokens_total')!;
    const v = (labels: Record<string, string>) =>
      tokens.values
        .filter((s) => Object.entries(labels).every(([k, x]) => s.labels[k] === x))
        .reduce((a, s) => a + s.value, 0);
    expect(v({ direction: 'input', model: 'gemini-3.8-live' })).toBeGreaterThan(0);
    expect(v({ direction: 'output', modality: 'AUDIO', model: 'gemini-3.8-live' })).toBeGreaterThan(0);
    await close();
    const end = lines.find((l) => l.msg === 'job ended');
    expect(end?.obj).toMatchObject({
      room: 'm-usage',
      tokens: { input: v({ direction: 'input' }), output: v({ direction: 'output' }) },
      sessions: [{ track: 'agent_audio', model: 'gemini-3.8-live' }],
    });
  });
});
