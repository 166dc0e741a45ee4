import {
  Behavior,
  FunctionResponseScheduling,
  type LiveConnectConfig,
  MediaResolution,
  Modality,
  ThinkingLevel,
  TurnCoverage,
} from '@google/genai';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL, type Scenario, start } from '../emulators/gemini-live/index.ts';
import { tone } from '../shared/audio/generate.ts';
import { pcm16ToBase64 } from '../shared/audio/pcm.ts';
import { DEFAULT_LIVE_MODEL } from '../shared/gemini-models/index.ts';
import { connect, connectError, emulatorPerTest, type Recorder, textOf } from './fixtures/gemini-client.ts';

const LIVE_38 = 'gemini-3.8-live';
const THINKING_38 = 'gemini-3.8-live-extended-thinking';
const FLASH_31 = 'gemini-3.1-flash-live-preview';
const NATIVE_25 = 'gemini-2.5-flash-native-audio-preview-12-2025';

/** Per-model behaviour of the emulator, through the real SDK: what each model refuses, ignores and does. */
describe('Gemini Live emulator: per-model rules from the model catalogue', () => {
  const gem = emulatorPerTest();

  async function emulator(options: Parameters<typeof start>[0] = {}) {
    gem.emu ??= await start({ pacing: Infinity, ...options });
    return gem.emu;
  }

  async function open(model: string, config: LiveConnectConfig = {}, apiVersion?: string): Promise<Recorder> {
    const emu = await emulator();
    const r = await connect(emu.url, { model, config, ...(apiVersion && { apiVersion }) });
    gem.open.push(r);
    return r;
  }

  /** The settings the emulator accepted but ignores for the last session. */
  const ignored = () =>
    gem
      .emu!.stats()
      .at(-1)!
      .ignored.map((i) => i.field);

  it('the default model is gemini-3.8-live, the catalogue default', async () => {
    expect(DEFAULT_MODEL).toBe(DEFAULT_LIVE_MODEL);
    expect(DEFAULT_MODEL).toBe(LIVE_38);
    await open(DEFAULT_MODEL);
    expect(gem.emu!.stats()[0]).toMatchObject({ model: LIVE_38, ignored: [] });
  });

  it('3.8: proactiveAudio false is refused (it is always on); true is accepted on v1', async () => {
    const emu = await emulator();
    expect(
      await connectError(emu.url, { model: LIVE_38, config: { proactivity: { proactiveAudio: false } } }),
    ).toMatch(
      /code 1007\): Invalid argument: proactive_audio cannot be false for gemini-3\.8-live \(always on\)\.$/,
    );
    await open(LIVE_38, { proactivity: { proactiveAudio: true } });
    expect(ignored()).toEqual([]);
  });

  it('3.8: only AUDIO responses; TEXT is refused (2.5 still answers in text)', async () => {
    const emu = await emulator();
    expect(
      await connectError(emu.url, { model: LIVE_38, config: { responseModalities: [Modality.TEXT] } }),
    ).toMatch(
      /code 1007\): Invalid argument: response_modalities TEXT is not supported for gemini-3\.8-live\.$/,
    );
    await open(LIVE_38, { responseModalities: [Modality.AUDIO] });
    await open(NATIVE_25, { responseModalities: [Modality.TEXT] });
  });

  it('3.8: max_output_tokens up to 65,536', async () => {
    const emu = await emulator();
    expect(await connectError(emu.url, { model: LIVE_38, config: { maxOutputTokens: 65_537 } })).toMatch(
      /code 1007\): Invalid argument: max_output_tokens must be at most 65536 for gemini-3\.8-live\.$/,
    );
    await open(LIVE_38, { maxOutputTokens: 65_536 });
    expect(ignored()).toEqual([]);
  });

  it('3.8: thinkingConfig and affective dialog are accepted but ignored; its turnCoverage default is accepted', async () => {
    await open(LIVE_38, {
      thinkingConfig: { thinkingLevel: ThinkingLevel.LOW },
      enableAffectiveDialog: true,
      realtimeInputConfig: { turnCoverage: TurnCoverage.TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO },
    });
    expect(ignored()).toEqual([
      'generation_config.thinking_config',
      'generation_config.enable_affective_dialog',
    ]);
  });

  it('thinking per model: 2.5 takes a budget, 3.1 and extended thinking take levels, the rest is ignored', async () => {
    await open(NATIVE_25, { thinkingConfig: { thinkingBudget: 0 } });
    expect(ignored()).toEqual([]);
    await open(NATIVE_25, { thinkingConfig: { thinkingLevel: ThinkingLevel.LOW } });
    expect(ignored()).toEqual(['generation_config.thinking_config.thinking_level']);
    await open(FLASH_31, { thinkingConfig: { thinkingLevel: ThinkingLevel.MINIMAL } });
    expect(ignored()).toEqual([]);
    await open(FLASH_31, { thinkingConfig: { thinkingBudget: 512 } });
    expect(ignored()).toEqual(['generation_config.thinking_config.thinking_budget']);
    await open(THINKING_38, { thinkingConfig: { thinkingLevel: ThinkingLevel.HIGH } });
    expect(ignored()).toEqual([]);
    await open(THINKING_38, { thinkingConfig: { thinkingLevel: ThinkingLevel.MINIMAL } });
    expect(ignored()).toEqual(['generation_config.thinking_config.thinking_level']);
  });

  it('3.1: proactive audio and affective dialog are ignored; 2.5 takes them on v1alpha only', async () => {
    await open(FLASH_31, { proactivity: { proactiveAudio: true }, enableAffectiveDialog: true });
    expect(ignored()).toEqual(['generation_config.enable_affective_dialog', 'proactivity']);
    await open(NATIVE_25, { proactivity: { proactiveAudio: true }, enableAffectiveDialog: true }, 'v1alpha');
    expect(ignored()).toEqual([]);
    expect(
      await connectError(gem.emu!.url, {
        model: NATIVE_25,
        config: { proactivity: { proactiveAudio: true } },
      }),
    ).toMatch(/code 1007\): Invalid JSON payload received\. Unknown name "proactivity"/);
  });

  it('a model added with options.models passes through: no refusals, nothing ignored', async () => {
    await emulator({ models: ['gemini-9-live'] });
    await open('gemini-9-live', {
      thinkingConfig: { thinkingBudget: 3 },
      proactivity: { proactiveAudio: false },
      responseModalities: [Modality.TEXT],
    });
    expect(gem.emu!.stats()[0]).toMatchObject({ model: 'gemini-9-live', ignored: [] });
    expect(await connectError(gem.emu!.url, { model: 'gemini-9-live-unlisted' })).toMatch(/code 1008\)/);
  });
});

describe('Gemini Live emulator: gemini-3.8-live tools, clientContent and usage', () => {
  const gem = emulatorPerTest();

  async function setup(
    model: string,
    scenario: Scenario | undefined,
    config: LiveConnectConfig = {},
    pacing: 'realtime' | number = Infinity,
  ) {
    gem.emu = await start({ ...(scenario && { scenario }), pacing });
    const r = await connect(gem.emu.url, { model, config: { outputAudioTranscription: {}, ...config } });
    gem.open.push(r);
    return r;
  }

  const lookup = (behavior?: Behavior): LiveConnectConfig['tools'] => [
    { functionDeclarations: [{ name: 'lookup', description: 'Slow lookup', behavior }] },
  ];
  const keepTalking: Scenario = {
    turns: [
      {
        steps: [
          { toolCall: { name: 'lookup', args: { q: 'x' }, onResult: 'Found {{result}}.' } },
          { say: 'I am looking that up for you while we keep talking about other things.' },
        ],
      },
    ],
  };
  const respond = (r: Recorder, scheduling: FunctionResponseScheduling, v: number) =>
    r.session.sendToolResponse({
      functionResponses: [{ id: 'call-1', name: 'lookup', response: { v }, scheduling }],
    });

  it('a tool without a declared behaviour runs NON_BLOCKING: the model keeps speaking; WHEN_IDLE voices the result after the reply', async () => {
    const r = await setup(LIVE_38, keepTalking, { tools: lookup() }, 3);
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.waitFor((m) => m.toolCall !== undefined);
    // Speech follows the call while no response has been sent.
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    respond(r, FunctionResponseScheduling.WHEN_IDLE, 1);
    const first = await r.turnComplete(1);
    await r.turnComplete(2);
    const at = r.messages.indexOf(first);
    expect(r.messages.slice(0, at).some((m) => m.serverContent?.interrupted)).toBe(false);
    expect(textOf(r.messages.slice(0, at), 'outputTranscription')).toBe(
      'I am looking that up for you while we keep talking about other things.',
    );
    expect(textOf(r.messages.slice(at), 'outputTranscription')).toBe('Found {"v":1}.');
  });

  it('NON_BLOCKING by default + INTERRUPT: the running speech stops and the result is spoken at once', async () => {
    const r = await setup(LIVE_38, keepTalking, { tools: lookup() }, 'realtime');
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    respond(r, FunctionResponseScheduling.INTERRUPT, 2);
    const interrupted = await r.waitFor((m) => m.serverContent?.interrupted === true);
    await r.turnComplete(2);
    const at = r.messages.indexOf(interrupted);
    expect(r.messages.slice(0, at).some((m) => m.serverContent?.generationComplete)).toBe(false);
    expect(textOf(r.messages.slice(at), 'outputTranscription')).toBe('Found {"v":2}.');
  });

  it('NON_BLOCKING by default + SILENT: the result enters the context without a word', async () => {
    const r = await setup(LIVE_38, keepTalking, { tools: lookup() });
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.turnComplete(1);
    respond(r, FunctionResponseScheduling.SILENT, 3);
    r.session.sendRealtimeInput({ text: 'next' });
    const done = await r.turnComplete(2);
    expect(textOf(r.messages, 'outputTranscription')).not.toContain('Found');
    // The second prompt holds the tool result: its JSON is part of the TEXT count.
    expect(gem.emu!.stats()[0]).toMatchObject({ toolResponses: 1, turns: 2 });
    expect(
      done.usageMetadata!.promptTokensDetails!.find((d) => d.modality === 'TEXT')!.tokenCount,
    ).toBeGreaterThan(0);
  });

  it('BLOCKING declared on 3.8: the turn waits for the response', async () => {
    const r = await setup(
      LIVE_38,
      { turns: [{ steps: [{ toolCall: { name: 'lookup', args: {} } }, { say: 'Got {{result.lookup}}.' }] }] },
      { tools: lookup(Behavior.BLOCKING) },
    );
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.waitFor((m) => m.toolCall !== undefined);
    expect(r.messages.some((m) => m.serverContent?.modelTurn || m.serverContent?.turnComplete)).toBe(false);
    r.session.sendToolResponse({ functionResponses: [{ id: 'call-1', name: 'lookup', response: { v: 4 } }] });
    await r.turnComplete(1);
    expect(textOf(r.messages, 'outputTranscription')).toBe('Got {"v":4}.');
  });

  it('3.1 Flash Live runs a declared NON_BLOCKING tool blocking (its calls are synchronous only)', async () => {
    const r = await setup(FLASH_31, keepTalking, { tools: lookup(Behavior.NON_BLOCKING) });
    expect(gem.emu!.stats()[0]!.ignored.map((i) => i.field)).toEqual([
      'tools.function_declarations.behavior',
    ]);
    r.session.sendRealtimeInput({ text: 'look it up' });
    await r.waitFor((m) => m.toolCall !== undefined);
    expect(r.messages.some((m) => m.serverContent?.modelTurn)).toBe(false);
    respond(r, FunctionResponseScheduling.INTERRUPT, 5);
    await r.turnComplete(1);
    expect(r.messages.some((m) => m.serverContent?.interrupted)).toBe(false);
  });

  it('clientContent without turnComplete does not interrupt (the server waits); with it, it interrupts and answers all of it', async () => {
    const r = await setup(LIVE_38, undefined, {}, 2);
    r.session.sendRealtimeInput({ text: 'first' });
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    r.session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'and also' }] }],
      turnComplete: false,
    });
    const first = await r.turnComplete(1);
    const firstAt = r.messages.indexOf(first);
    expect(r.messages.slice(0, firstAt).some((m) => m.serverContent?.interrupted)).toBe(false);
    expect(r.messages.slice(0, firstAt).some((m) => m.serverContent?.generationComplete)).toBe(true);
    expect(gem.emu!.stats()[0]!.turns).toBe(1);

    r.session.sendRealtimeInput({ text: 'second' });
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0, { from: firstAt + 1 });
    r.session.sendClientContent({ turns: [{ role: 'user', parts: [{ text: 'stop' }] }], turnComplete: true });
    const interrupted = await r.waitFor((m) => m.serverContent?.interrupted === true);
    await r.turnComplete(3);
    const said = textOf(r.messages.slice(r.messages.indexOf(interrupted)), 'outputTranscription');
    expect(said).toBe(
      'You said "and also stop". That is turn 3 of this conversation. Before that: "second".',
    );
  });

  it('the same clientContent without turnComplete interrupts 2.5 (every clientContent does there)', async () => {
    const r = await setup(NATIVE_25, undefined, {}, 2);
    r.session.sendRealtimeInput({ text: 'first' });
    await r.waitFor((m) => (m.serverContent?.modelTurn?.parts?.length ?? 0) > 0);
    r.session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'and also' }] }],
      turnComplete: false,
    });
    await r.waitFor((m) => m.serverContent?.interrupted === true);
  });

  it('proactive audio (always on 3.8): a turn of bracketed room notes completes without an answer; a question is answered', async () => {
    const r = await setup(LIVE_38, undefined);
    r.session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: '[Ana joined the room]\n[Ana is speaking]' }] }],
      turnComplete: true,
    });
    const silent = await r.turnComplete(1);
    expect(r.messages.slice(0, r.messages.indexOf(silent) + 1).some((m) => m.serverContent?.modelTurn)).toBe(
      false,
    );
    expect(gem.emu!.stats()[0]).toMatchObject({ silentTurns: 1, turns: 0 });
    r.session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: 'what time is it?' }] }],
      turnComplete: true,
    });
    await r.turnComplete(2);
    // The notes are context, not a turn of the script: the question is the conversation's first turn.
    expect(textOf(r.messages, 'outputTranscription')).toBe(
      'You said "what time is it?". That is turn 1 of this conversation.',
    );
  });

  it('without proactive audio (2.5 by default) the same notes are answered like any turn', async () => {
    const r = await setup(NATIVE_25, undefined);
    r.session.sendClientContent({
      turns: [{ role: 'user', parts: [{ text: '[Ana joined the room]' }] }],
      turnComplete: true,
    });
    await r.turnComplete(1);
    expect(gem.emu!.stats()[0]).toMatchObject({ silentTurns: 0, turns: 1 });
  });

  it('usageMetadata after a scripted turn: audio at 32 tokens/s, video per frame at the mediaResolution, audio out', async () => {
    const system = 'You are a terse assistant.'; // 26 characters: 7 text tokens
    const r = await setup(
      LIVE_38,
      { turns: [{ steps: [{ say: 'Hello there.' }] }] },
      {
        systemInstruction: system,
        mediaResolution: MediaResolution.MEDIA_RESOLUTION_LOW,
        realtimeInputConfig: { automaticActivityDetection: { disabled: true } },
      },
    );
    const frame = { data: Buffer.from('not really a jpeg').toString('base64'), mimeType: 'image/jpeg' };
    r.session.sendRealtimeInput({ video: frame });
    r.session.sendRealtimeInput({ video: frame });
    r.session.sendRealtimeInput({ activityStart: {} });
    // 1.5 s at 16 kHz: 48 audio tokens.
    r.session.sendRealtimeInput({
      audio: { data: pcm16ToBase64(tone(1.5, 16_000)), mimeType: 'audio/pcm;rate=16000' },
    });
    r.session.sendRealtimeInput({ activityEnd: {} });
    const done = await r.turnComplete(1);
    const outSamples = r.audioChunks().reduce((n, c) => n + c.length, 0);
    const responseTokens = Math.ceil((outSamples / 24_000) * 32);
    expect(responseTokens).toBeGreaterThan(0);
    expect(done.usageMetadata).toEqual({
      promptTokenCount: 7 + 128 + 48,
      promptTokensDetails: [
        { modality: 'TEXT', tokenCount: 7 },
        { modality: 'VIDEO', tokenCount: 128 },
        { modality: 'AUDIO', tokenCount: 48 },
      ],
      responseTokenCount: responseTokens,
      responseTokensDetails: [{ modality: 'AUDIO', tokenCount: responseTokens }],
      totalTokenCount: 7 + 128 + 48 + responseTokens,
    });
    // 3.x: one message carries the audio and its transcription.
    expect(r.messages.some((m) => m.serverContent?.modelTurn && m.serverContent.outputTranscription)).toBe(
      true,
    );
  });
});
