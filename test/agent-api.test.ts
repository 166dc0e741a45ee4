/**
 * The public agent API (agent/api/): the real worker runs an agent module given with `--agent`, its own
 * tool called by the scripted model and its result voiced; bad modules stop the worker (exit 2) with
 * the reason before it registers or joins anything.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { until } from './fixtures/agent/kit.ts';
import { agentIn, workerSuite } from './fixtures/agent/worker-suite.ts';

const MAIN = fileURLToPath(new URL('../agent/main.ts', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/agents/api/${name}`, import.meta.url));

describe('agent modules that cannot run stop the worker before any room', () => {
  // Unreachable LiveKit: a worker that got past loading would hang connecting, not exit 2.
  const env = {
    PATH: process.env.PATH,
    LIVEKIT_URL: 'ws://127.0.0.1:9',
    LIVEKIT_API_KEY: 'devkey',
    LIVEKIT_API_SECRET: 'secret',
    GEMINI_API_KEY: 'k-super-secret',
  };
  const run = (args: string[], extra: Record<string, string> = {}) =>
    spawnSync(process.execPath, [MAIN, 'start', ...args], {
      env: { ...env, ...extra },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it.each([
    ['missing.ts', /missing\.ts: no such file/],
    ['no-export.ts', /no-export\.ts: its default export is not an agent/],
    ['bad-name.ts', /tools\[0\] \(1 lookup order\): name "1 lookup order" is not a Gemini function name/],
    ['duplicate.ts', /tools\[1\] \(lookup_order\): duplicate tool name lookup_order/],
    ['bad-schema.ts', /tools\[0\] \(book\): parameters: Gemini cannot take this schema: Date/],
  ])('--agent %s: exit 2, reason named', (file, reason) => {
    const r = run(['--agent', fixture(file)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr + r.stdout).not.toContain('registered worker');
    expect(r.stderr).not.toContain('k-super-secret');
  });

  it('AGENT_MODULE is read the same way, and --agent with no path is refused', () => {
    const r = run([], { AGENT_MODULE: fixture('duplicate.ts') });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/duplicate tool name lookup_order/);
    const bare = run(['--agent']);
    expect(bare.status).toBe(2);
    expect(bare.stderr).toMatch(/--agent needs the path of an agent module/);
  });
});

describe('a custom agent in the real worker', { timeout: 240_000 }, () => {
  const suite = workerSuite(
    {
      pacing: 4,
      scenario: {
        turns: [
          {
            steps: [
              { toolCall: { name: 'lookup_order', args: { orderId: 'A100' } } },
              { say: 'Your order: {{result.lookup_order}}' },
            ],
          },
          { steps: [{ toolCall: { name: 'wait_for_abort', args: {} } }, { say: 'never said' }] },
          { steps: [{ echo: true }] },
        ],
      },
    },
    // 2.5: the scripted turns answer speech (a join is no turn of its own).
    { AGENT_HTTP_PORT: '0', GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025' },
  );
  const startWorker = (tag: string, agent: string, env: Record<string, string> = {}) =>
    suite.worker(tag, { args: ['--agent', agent], env });

  it("examples/custom-agent: the model calls the agent's own tool and voices its result", async () => {
    // No AGENT_TOOLS: the room defaults to every tool of the agent (its own, not the examples').
    await startWorker(
      'custom',
      fileURLToPath(new URL('../examples/custom-agent/my-agent.ts', import.meta.url)),
    );
    // Metadata offering no tool: the agent's roomConfig hook has the last word.
    await suite.rooms.createRoom({
      name: 'custom-room',
      metadata: '{"tools":[]}',
    });
    const alice = await suite.human('custom-room', 'alice');
    await suite.dispatch.createDispatch('custom-room', 'custom');
    const agentSid = await until(() => alice.agentTrackSid(), 'agent track');
    await alice.mic.say(0.8);
    const answer = await until(
      () => alice.finals(agentSid).find((t) => t.text.includes('Your order')),
      'the order answer',
    );
    expect(answer.text).toContain('"status":"shipped"');
    expect(answer.text).toContain('"orderId":"A100"');
    const session = suite.stack.gemini.stats()[0]!;
    expect(session).toMatchObject({ toolCalls: 1, toolResponses: 1 });
    // instructions(room) became the system instruction; roomConfig's tools won over the metadata.
    const setup = JSON.stringify(session.setup);
    expect(setup).toContain('You are the order desk of a shop, in room custom-room.');
    expect(setup).toContain('"name":"lookup_order"');
    expect(setup).not.toContain('get_weather');
  });

  it("a tool the user barges in on sees its signal aborted, and the agent's toolCall hook hears of it", async () => {
    const events = join(mkdtempSync(join(tmpdir(), 'agent-api-')), 'events.jsonl');
    suite.defer(async () => rmSync(dirname(events), { recursive: true, force: true }));
    const read = (): Record<string, unknown>[] =>
      existsSync(events)
        ? readFileSync(events, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [];
    await startWorker('cancel', fixture('cancellable.ts'), { TEST_AGENT_EVENTS: events });
    const bob = await suite.human('cancel-room', 'bob');
    await suite.dispatch.createDispatch('cancel-room', 'cancel');
    const agentSid = await until(() => bob.agentTrackSid(), 'agent track');
    await bob.mic.say(0.8);
    await until(() => bob.finals(agentSid).find((t) => t.text.includes('Your order')), 'the order answer');
    await bob.mic.say(0.8, { seed: 2 });
    await until(() => read().some((e) => e.tool === 'started'), 'wait_for_abort runs');
    // Talking over the pending call: the model interrupts its turn and cancels the call.
    await bob.mic.say(0.8, { seed: 3 });
    await until(() => read().some((e) => e.tool === 'aborted'), 'the signal aborted');
    await until(
      () => read().some((e) => e.hook === 'toolCall' && e.name === 'wait_for_abort'),
      'toolCall hook',
    );
    expect(read().find((e) => e.tool === 'aborted')!.reason).toContain('cancelled by the model');
    expect(read().filter((e) => e.hook === 'toolCall')).toEqual([
      { hook: 'toolCall', room: 'cancel-room', id: expect.any(String), name: 'lookup_order', ok: true },
      {
        hook: 'toolCall',
        room: 'cancel-room',
        id: expect.any(String),
        name: 'wait_for_abort',
        ok: false,
        cancelled: true,
      },
    ]);
    expect(bob.finals(agentSid).some((t) => t.text.includes('never said'))).toBe(false);
  });

  it("a value the agent's roomConfig hook returns is validated like metadata: the room fails, naming the hook", async () => {
    await startWorker('badroom', fixture('bad-room-config.ts'));
    const carol = await suite.human('bad-room', 'carol');
    await suite.dispatch.createDispatch('bad-room', 'badroom');
    const agent = await until(() => agentIn(carol), 'agent joins');
    await until(() => agent.attributes['lk.agent.state'] === 'failed', 'failed state');
    expect(agent.attributes['lk.agent.error']).toMatch(/agent roomConfig\(room\)[\s\S]*policy/);
  });
});
