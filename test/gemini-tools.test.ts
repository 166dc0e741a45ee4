import { Behavior, FunctionResponseScheduling, type LiveConnectConfig } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { type Scenario, start } from '../emulators/gemini-live/index.ts';
import { connect, emulatorPerTest, textOf } from './fixtures/gemini-client.ts';

/** Scripted turns: tool calls (blocking and NON_BLOCKING), cancellation, timeouts, goAway, greeting. */
describe('Gemini Live emulator: scenarios and tool calls', () => {
  const gem = emulatorPerTest();

  const tools = (behavior?: Behavior): LiveConnectConfig['tools'] => [
    {
      functionDeclarations: [
        { name: 'get_weather', description: 'Weather for a city', behavior },
        { name: 'lookup', description: 'Slow lookup', behavior },
      ],
    },
  ];

  async function setup(
    scenario: Scenario,
    config: LiveConnectConfig = {},
    pacing: 'realtime' | number = Infinity,
  ) {
    gem.emu = await start({ scenario, pacing });
    const r = await connect(gem.emu.url, { config: { outputAudioTranscription: {}, ...config } });
    gem.open.push(r);
    return r;
  }

  it('blocking call: the turn waits for the response, then speaks with the result', async () => {
    const r = await setup(
      {
        turns: [
          {
            steps: [
              { say: 'Let me check.' },
              { toolCall: { name: 'get_weather', args: { city: 'Paris' } } },
              { say: 'It is {{result.get_weather}} in Paris.' },
            ],
          },
        ],
      },
      { tools: tools() },
    );
    r.session.sendRealtimeInput({ text: 'weather in Paris?' });
    const call = await r.waitFor((m) => m.toolCall !== undefined);
    expect(call.toolCall!.functionCalls).toEqual([
      { id: 'call-1', name: 'get_weather', args: { city: 'Paris' } },
    ]);
    expect(textOf(r.messages, 'outputTranscription')).toBe('Let me check.');
    expect(r.messages.some((m) => m.serverContent?.turnComplete || m.serverContent?.generationComplete)).toBe(
      false,
    );
    r.session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'get_weather', response: { sky: 'sunny' } }],
    });
    await r.turnComplete();
    expect(textOf(r.messages, 'outputTranscription')).toBe('Let me check.It is {"sky":"sunny"} in Paris.');
    expect(gem.emu!.stats()[0]).toMatchObject({ toolCalls: 1, toolResponses: 1, lateToolResponses: 0 });
  });

  const nonBlocking: Scenario = {
    turns: [
      {
        steps: [
          { toolCall: { name: 'lookup', args: { q: 'x' }, onResult: 'Found {{result}}.' } },
          { say: 'I am looking that up for you while we keep talking about other things.' },
        ],
      },
    ],
  };

  it('NON_BLOCKING + WHEN_IDLE: the model keeps talking, then reports the result in a new turn', async () => {
    // 3× real time: the response normally lands while the model still talks; the order holds either way.
    const r = await setup(nonBlocking, { tools: tools(Behavior.NON_BLOCKING) }, 3);
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.waitFor((m) => m.toolCall !== undefined);
    r.session.sendToolResponse({
      functionResponses: [
        {
          id: 'call-1',
          name: 'lookup',
          response: { v: 1 },
          scheduling: FunctionResponseScheduling.WHEN_IDLE,
        },
      ],
    });
    const first = await r.turnComplete(1);
    await r.turnComplete(2);
    const firstAt = r.messages.indexOf(first);
    expect(r.messages.slice(0, firstAt).some((m) => m.serverContent?.interrupted)).toBe(false);
    expect(textOf(r.messages.slice(firstAt), 'outputTranscription')).toBe('Found {"v":1}.');
  });

  it('NON_BLOCKING + INTERRUPT: the running speech stops and the result is spoken at once', async () => {
    const r = await setup(nonBlocking, { tools: tools(Behavior.NON_BLOCKING) }, 'realtime');
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    r.session.sendToolResponse({
      functionResponses: [
        {
          id: 'call-1',
          name: 'lookup',
          response: { v: 2 },
          scheduling: FunctionResponseScheduling.INTERRUPT,
        },
      ],
    });
    const interrupted = await r.waitFor((m) => m.serverContent?.interrupted === true);
    await r.turnComplete(2);
    const at = r.messages.indexOf(interrupted);
    expect(r.messages.slice(0, at).some((m) => m.serverContent?.generationComplete)).toBe(false);
    expect(r.messages.some((m) => m.toolCallCancellation)).toBe(false);
    expect(textOf(r.messages.slice(at), 'outputTranscription')).toBe('Found {"v":2}.');
  });

  it('NON_BLOCKING + willContinue: the call stays open for later responses', async () => {
    const r = await setup(nonBlocking, { tools: tools(Behavior.NON_BLOCKING) });
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.turnComplete(1);
    r.session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'lookup', response: { progress: 50 }, willContinue: true }],
    });
    await r.turnComplete(2);
    r.session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'lookup', response: { done: true } }],
    });
    await r.turnComplete(3);
    r.session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'lookup', response: { again: 1 } }],
    });
    r.session.sendRealtimeInput({ text: 'bye' });
    await r.turnComplete(4);
    const said = textOf(r.messages, 'outputTranscription');
    expect(said).toContain('Found {"progress":50}.');
    expect(said).toContain('Found {"done":true}.');
    expect(said).not.toContain('again');
    expect(gem.emu!.stats()[0]).toMatchObject({ toolResponses: 3, lateToolResponses: 1 });
  });

  it('NON_BLOCKING + SILENT: the result only enters the context', async () => {
    const r = await setup(nonBlocking, { tools: tools(Behavior.NON_BLOCKING) });
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.turnComplete(1);
    r.session.sendToolResponse({
      functionResponses: [
        { id: 'call-1', name: 'lookup', response: { v: 3 }, scheduling: FunctionResponseScheduling.SILENT },
      ],
    });
    r.session.sendRealtimeInput({ text: 'next' });
    await r.turnComplete(2);
    expect(textOf(r.messages, 'outputTranscription')).not.toContain('Found');
    expect(textOf(r.messages, 'outputTranscription')).toContain('You said "next". That is turn 2');
    expect(gem.emu!.stats()[0]!.toolResponses).toBe(1);
  });

  it('interruption during a pending blocking call sends toolCallCancellation; the late response is ignored', async () => {
    const r = await setup(
      { turns: [{ steps: [{ toolCall: { name: 'get_weather', args: {} } }, { say: 'never said' }] }] },
      { tools: tools() },
    );
    r.session.sendRealtimeInput({ text: 'weather?' });
    await r.waitFor((m) => m.toolCall !== undefined);
    r.session.sendRealtimeInput({ text: 'never mind' });
    const cancel = await r.waitFor((m) => m.toolCallCancellation !== undefined);
    expect(cancel.toolCallCancellation!.ids).toEqual(['call-1']);
    await r.turnComplete(2);
    r.session.sendToolResponse({ functionResponses: [{ id: 'call-1', name: 'get_weather', response: {} }] });
    r.session.sendRealtimeInput({ text: 'again' });
    await r.turnComplete(3);
    const text = textOf(r.messages, 'outputTranscription');
    expect(text).not.toContain('never said');
    expect(text).toContain('You said "never mind". That is turn 2');
    expect(r.messages.filter((m) => m.serverContent?.interrupted)).toHaveLength(1);
    expect(gem.emu!.stats()[0]).toMatchObject({
      toolCallCancellations: 1,
      lateToolResponses: 1,
      interruptions: 1,
    });
  });

  it('sendContextUpdate (SDK 3.x) replaces tools and the system instruction for later turns', async () => {
    const r = await setup(
      { turns: [{ steps: [{ toolCall: { name: 'get_weather', args: {} } }, { say: 'Carrying on.' }] }] },
      { tools: tools(), systemInstruction: 'Old rules.' },
    );
    r.session.sendContextUpdate({
      systemInstruction: 'New rules.',
      tools: {
        tools: [{ functionDeclarations: [{ name: 'get_weather', behavior: Behavior.NON_BLOCKING }] }],
      },
    });
    r.session.sendRealtimeInput({ text: 'weather?' });
    // Now NON_BLOCKING: the turn completes without a tool response.
    await r.turnComplete();
    expect(textOf(r.messages, 'outputTranscription')).toBe('Carrying on.');
    const stats = gem.emu!.stats()[0]!;
    expect(stats.contextUpdates).toBe(1);
    expect(stats.setup?.systemInstruction).toMatchObject({ parts: [{ text: 'New rules.' }] });
  });

  it('a missing response times out (timeoutMs) and the turn goes on with a null result', async () => {
    const r = await setup(
      {
        turns: [
          {
            steps: [
              { toolCall: { name: 'get_weather', args: {} }, timeoutMs: 200 },
              { say: 'Result: {{result}}' },
            ],
          },
        ],
      },
      { tools: tools() },
    );
    r.session.sendRealtimeInput({ text: 'weather?' });
    await r.turnComplete();
    expect(textOf(r.messages, 'outputTranscription')).toBe('Result: null');
    r.session.sendToolResponse({ functionResponses: [{ id: 'call-1', name: 'get_weather', response: {} }] });
    r.session.sendRealtimeInput({ text: 'x' });
    await r.turnComplete(2);
    expect(gem.emu!.stats()[0]).toMatchObject({ toolTimeouts: 1, lateToolResponses: 1 });
  });

  it('greeting, scripted transcript, goAway then 1011', async () => {
    const r = await setup(
      {
        greeting: [{ say: 'Hello there.' }],
        turns: [{ hear: 'please leave', steps: [{ say: 'Bye.' }, { goAway: { timeLeftMs: 300 } }] }],
      },
      { inputAudioTranscription: {} },
    );
    await r.turnComplete(1);
    expect(textOf(r.messages, 'outputTranscription')).toBe('Hello there.');
    const { utterance } = await import('../shared/audio/generate.ts');
    const { sendPcm } = await import('./fixtures/gemini-client.ts');
    sendPcm(r.session, utterance(16_000, { speech: 0.5, trail: 0.7 }), 16_000);
    const goAway = await r.waitFor((m) => m.goAway !== undefined);
    expect(goAway.goAway!.timeLeft).toBe('0.3s');
    expect(textOf(r.messages, 'inputTranscription')).toBe('please leave');
    expect(await r.closed).toMatchObject({ code: 1011 });
  });

  it('a scripted close step ends the connection with its code', async () => {
    const r = await setup({ turns: [{ steps: [{ close: { code: 1011, reason: 'scripted failure' } }] }] });
    r.session.sendRealtimeInput({ text: 'crash please' });
    expect(await r.closed).toEqual({ code: 1011, reason: 'scripted failure' });
  });

  it('rejects an invalid scenario with a readable error', async () => {
    await expect(start({ scenario: { turns: [{ steps: [{ sing: 'la' }] }] } as never })).rejects.toThrow(
      /invalid scenario/,
    );
  });
});

describe('Gemini Live emulator: programmatic behaviour', () => {
  const gem = emulatorPerTest();

  it('a respond() function decides turns from their content; undefined falls back', async () => {
    const seen: string[] = [];
    gem.emu = await start({
      pacing: Number.POSITIVE_INFINITY,
      respond: ({ text, turn, trigger }) => {
        seen.push(`${turn}:${trigger}:${text}`);
        return text.includes('weather') ? { steps: [{ say: 'Sunny, turn {{turn}}.' }] } : undefined;
      },
    });
    const r = await connect(gem.emu.url, { config: { outputAudioTranscription: {} } });
    r.session.sendRealtimeInput({ text: 'the weather?' });
    await r.turnComplete(1);
    r.session.sendRealtimeInput({ text: 'something else' });
    await r.turnComplete(2);
    r.session.close();
    expect(textOf(r.messages, 'outputTranscription')).toBe(
      'Sunny, turn 1.You said "something else". That is turn 2 of this conversation. Before that: "the weather?".',
    );
    expect(seen).toEqual(['1:text:the weather?', '2:text:something else']);
  });

  it('setScenario() swaps the script for later turns', async () => {
    gem.emu = await start({ pacing: Number.POSITIVE_INFINITY });
    const r = await connect(gem.emu.url, { config: { outputAudioTranscription: {} } });
    r.session.sendRealtimeInput({ text: 'a' });
    await r.turnComplete(1);
    gem.emu.setScenario({ loop: true, turns: [{ steps: [{ say: 'Scripted.' }] }] });
    r.session.sendRealtimeInput({ text: 'b' });
    await r.turnComplete(2);
    r.session.close();
    expect(textOf(r.messages, 'outputTranscription')).toMatch(
      /That is turn 1 of this conversation\.Scripted\.$/,
    );
  });

  it('a throwing responder ends only its session, with 1011', async () => {
    gem.emu = await start({
      pacing: Number.POSITIVE_INFINITY,
      respond: ({ text }) => {
        if (text === 'boom') throw new Error('test responder failure');
        return undefined;
      },
    });
    const r = await connect(gem.emu.url);
    r.session.sendRealtimeInput({ text: 'boom' });
    expect((await r.closed).code).toBe(1011);
    const ok = await connect(gem.emu.url);
    ok.session.sendRealtimeInput({ text: 'fine' });
    await ok.turnComplete();
    ok.session.close();
  });
});
