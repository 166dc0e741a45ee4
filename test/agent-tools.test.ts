import type { FunctionResponse } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../agent/log.ts';
import { exampleTools, setLightTool, weatherTool } from '../agent/tools/examples.ts';
import { ToolRegistry } from '../agent/tools/registry.ts';
import { ToolRunner } from '../agent/tools/runner.ts';
import { defineTool } from '../agent/tools/tool.ts';
import { liveModel } from '../shared/gemini-models/index.ts';

/** The 2.5 native-audio model, whose functions block unless declared otherwise. */
const MODEL_25 = liveModel('gemini-2.5-flash-native-audio-preview-12-2025');

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function runner(registry: ToolRegistry, extra: Partial<ConstructorParameters<typeof ToolRunner>[0]> = {}) {
  const sent: FunctionResponse[][] = [];
  const r = new ToolRunner({
    registry,
    respond: (rs) => sent.push(rs),
    context: () => ({ logger: silentLogger }),
    ...extra,
  });
  return { r, sent };
}

describe('tool registry', () => {
  it('turns zod schemas into Live function declarations', () => {
    const decls = new ToolRegistry(exampleTools).declarations();
    const weather = decls.find((d) => d.name === 'get_weather')!;
    expect(weather.parametersJsonSchema).toMatchObject({
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    });
    expect(weather.parametersJsonSchema).not.toHaveProperty('$schema');
    const nb = defineTool({
      name: 'remind',
      description: 'x',
      parameters: z.object({}),
      behavior: 'NON_BLOCKING',
      async execute() {},
    });
    expect(new ToolRegistry([nb]).declarations()[0]!.behavior).toBe('NON_BLOCKING');
  });

  it('rejects unknown tool names in a selection and duplicate registrations', () => {
    const reg = new ToolRegistry(exampleTools);
    expect(() => reg.select(['get_weather', 'nope'])).toThrow(/unknown tool\(s\) nope/);
    expect(reg.select(['set_light']).names).toEqual(['set_light']);
    expect(() => reg.register(weatherTool)).toThrow(/twice/);
  });
});

describe('tool runner', () => {
  it('runs every call of a parallel toolCall and answers them together', async () => {
    const started: string[] = [];
    const gate = deferred();
    const slow = defineTool({
      name: 'slow',
      description: 'waits',
      parameters: z.object({ n: z.number() }),
      async execute({ n }) {
        started.push(`slow${n}`);
        await gate.promise;
        return n * 2;
      },
    });
    const { r, sent } = runner(new ToolRegistry([slow, weatherTool]), { model: MODEL_25 });
    const done = r.handle([
      { id: 'a', name: 'slow', args: { n: 1 } },
      { id: 'b', name: 'slow', args: { n: 2 } },
      { id: 'c', name: 'get_weather', args: { city: 'Paris' } },
    ]);
    // Both slow calls are running at the same time before either finishes.
    await expect.poll(() => started.length).toBe(2);
    expect(r.pending).toBe(2);
    gate.resolve();
    await done;
    expect(sent).toHaveLength(1);
    expect(sent[0]!.map((x) => x.id)).toEqual(['a', 'b', 'c']);
    expect(sent[0]![0]!.response).toEqual({ output: 2 });
    expect(sent[0]![2]!.response).toMatchObject({ output: { city: 'Paris', temperature: 17 } });
  });

  it('returns errors, bad arguments and unknown functions to the model instead of throwing', async () => {
    const boom = defineTool({
      name: 'boom',
      description: 'fails',
      parameters: z.object({}),
      async execute() {
        throw new Error('lamp on fire');
      },
    });
    const { r, sent } = runner(new ToolRegistry([boom, weatherTool]), { model: MODEL_25 });
    await r.handle([
      { id: '1', name: 'boom', args: {} },
      { id: '2', name: 'get_weather', args: { town: 'x' } },
      { id: '3', name: 'missing', args: {} },
    ]);
    const [a, b, c] = sent[0]!;
    expect(a!.response).toEqual({ error: 'lamp on fire' });
    expect(String(b!.response!.error)).toMatch(/invalid arguments: city/);
    expect(c!.response).toEqual({ error: 'unknown function missing' });
  });

  it('times out a hung tool and aborts its signal', async () => {
    let signal: AbortSignal | undefined;
    const hang = defineTool({
      name: 'hang',
      description: 'never returns',
      parameters: z.object({}),
      timeoutMs: 50,
      execute(_a, ctx) {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    const { r, sent } = runner(new ToolRegistry([hang]));
    await r.handle([{ id: 'h', name: 'hang', args: {} }]);
    expect(sent[0]![0]!.response).toEqual({ error: 'timed out after 50 ms' });
    expect(signal?.aborted).toBe(true);
  });

  it('cancels through AbortSignal on toolCallCancellation and sends no response', async () => {
    const seen = deferred<AbortSignal>();
    const wait = defineTool({
      name: 'wait',
      description: 'waits for abort',
      parameters: z.object({}),
      behavior: 'NON_BLOCKING',
      execute(_a, ctx) {
        seen.resolve(ctx.signal);
        return new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        );
      },
    });
    const { r, sent } = runner(new ToolRegistry([wait]));
    const done = r.handle([{ id: 'w', name: 'wait', args: {} }]);
    const signal = await seen.promise;
    r.cancel(['w']);
    await done;
    expect(signal.aborted).toBe(true);
    expect(sent).toEqual([]);
  });

  it('answers non-blocking tools one by one with their scheduling', async () => {
    const nb = defineTool({
      name: 'note',
      description: 'x',
      parameters: z.object({}),
      behavior: 'NON_BLOCKING',
      scheduling: 'SILENT',
      async execute() {
        return 'ok';
      },
    });
    const { r, sent } = runner(new ToolRegistry([nb]));
    await r.handle([
      { id: 'n1', name: 'note', args: {} },
      { id: 'n2', name: 'note', args: {} },
    ]);
    expect(sent).toHaveLength(2);
    expect(sent[0]![0]).toMatchObject({ scheduling: 'SILENT', response: { output: 'ok' } });
  });

  it('get_weather answers a city named like an Object member with made-up weather, not an inherited value', async () => {
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
    const { r, sent } = runner(new ToolRegistry([weatherTool]), { model: MODEL_25 });
    await r.handle(names.map((city, i) => ({ id: String(i), name: 'get_weather', args: { city } })));
    expect(sent[0]!.map((x) => x.response)).toEqual(
      names.map((city) => ({
        output: {
          city,
          temperature: expect.any(Number),
          unit: 'celsius',
          conditions: expect.any(String),
          humidity: expect.any(Number),
        },
      })),
    );
  });

  it('follows the model: on 3.8 a tool without behavior is NON_BLOCKING (answered alone, WHEN_IDLE), a BLOCKING one is waited for; 3.1 blocks a NON_BLOCKING one', async () => {
    const tool = (name: string, behavior?: 'BLOCKING' | 'NON_BLOCKING') =>
      defineTool({
        name,
        description: 'x',
        parameters: z.object({}),
        ...(behavior && { behavior }),
        async execute() {
          return name;
        },
      });
    const reg = new ToolRegistry([tool('plain'), tool('wait', 'BLOCKING'), tool('async', 'NON_BLOCKING')]);
    const on38 = runner(reg, { model: liveModel('gemini-3.8-live') });
    const calls = [
      { id: 'p', name: 'plain', args: {} },
      { id: 'w', name: 'wait', args: {} },
    ];
    expect(on38.r.blocks([calls[0]!])).toBe(false);
    expect(on38.r.blocks(calls)).toBe(true);
    await on38.r.handle(calls);
    expect(on38.sent).toHaveLength(2);
    const plain = on38.sent.flat().find((x) => x.id === 'p')!;
    const wait = on38.sent.flat().find((x) => x.id === 'w')!;
    expect(plain).toMatchObject({ scheduling: 'WHEN_IDLE', response: { output: 'plain' } });
    expect(wait).not.toHaveProperty('scheduling');

    const on31 = runner(reg, { model: liveModel('gemini-3.1-flash-live-preview') });
    const both = [
      { id: 'a', name: 'async', args: {} },
      { id: 'p', name: 'plain', args: {} },
    ];
    expect(on31.r.blocks([both[0]!])).toBe(true);
    await on31.r.handle(both);
    // Both blocking on 3.1: one response message, no scheduling.
    expect(on31.sent).toHaveLength(1);
    expect(on31.sent[0]!.map((x) => x.id)).toEqual(['a', 'p']);
    expect(on31.sent[0]![0]).not.toHaveProperty('scheduling');
  });

  it('set_light calls the RPC method of the asking participant', async () => {
    const calls: unknown[] = [];
    const { r, sent } = runner(new ToolRegistry([setLightTool]), {
      context: () => ({
        logger: silentLogger,
        participantIdentity: 'alice',
        async performRpc(p) {
          calls.push(p);
          return '{"ok":true}';
        },
      }),
    });
    await r.handle([{ id: 'l', name: 'set_light', args: { on: true, color: 'red' } }]);
    expect(calls).toEqual([
      expect.objectContaining({
        destinationIdentity: 'alice',
        method: 'set_light',
        payload: '{"on":true,"color":"red"}',
      }),
    ]);
    expect(sent[0]![0]!.response).toMatchObject({ output: { ok: true, participant: 'alice' } });
  });
});
