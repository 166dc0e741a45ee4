import type { FunctionResponse } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../agent/log.ts';
import { exampleTools, setLightTool, weatherTool } from '../agent/tools/examples.ts';
import { ToolRegistry } from '../agent/tools/registry.ts';
import { ToolRunner } from '../agent/tools/runner.ts';
import { defineTool } from '../agent/tools/tool.ts';

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
      behavior: 'non-blocking',
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
    const { r, sent } = runner(new ToolRegistry([slow, weatherTool]));
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
    const { r, sent } = runner(new ToolRegistry([boom, weatherTool]));
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
      behavior: 'non-blocking',
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
      behavior: 'non-blocking',
      scheduling: 'silent',
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
    const { r, sent } = runner(new ToolRegistry([weatherTool]));
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
