import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Tool } from '@google/genai';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_MODEL,
  loadWorkerConfig,
  opsSettings,
  readAgentEnv,
  resolveRoomConfig,
  roomConfigSchema,
} from '../agent/config.ts';
import { buildLiveConfig, liveApiVersion } from '../agent/live/setup.ts';
import { defaultRegistry } from '../agent/tools/index.ts';
import {
  checkSetup,
  DEFAULT_LIVE_MODEL,
  knownLiveModels,
  liveModel,
  settingsFromConfig,
} from '../shared/gemini-models/index.ts';

const baseEnv = {
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'devkey',
  LIVEKIT_API_SECRET: 'secret',
  GEMINI_API_KEY: 'k-super-secret',
};

describe('agent config', () => {
  it('loads defaults from a minimal environment', () => {
    const c = loadWorkerConfig(baseEnv);
    expect(c.room.model).toBe(DEFAULT_MODEL);
    expect(c.room.policy).toBe('shared');
    expect(c.room.compression.enabled).toBe(true);
    expect(c.room.video.enabled).toBe(false);
    expect(c.agentName).toBe('');
  });

  it('lists every problem readably and never echoes secrets', () => {
    let err: unknown;
    try {
      loadWorkerConfig({ LIVEKIT_URL: 'http://x', AGENT_POLICY: 'mob', GEMINI_API_KEY: 'k-super-secret' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('LIVEKIT_URL');
    expect(msg).toContain('LIVEKIT_API_KEY: required but not set');
    expect(msg).toContain('AGENT_POLICY: Invalid option');
    expect(msg).not.toContain('k-super-secret');
  });

  it('parses env booleans, numbers and lists', () => {
    const c = loadWorkerConfig({
      ...baseEnv,
      AGENT_VIDEO: 'on',
      AGENT_TOOLS: 'get_weather, set_light',
      AGENT_VAD_SILENCE_MS: '700',
      AGENT_COMPRESSION: 'false',
      AGENT_POLICY: 'floor',
    });
    expect(c.room.video.enabled).toBe(true);
    expect(c.room.tools).toEqual(['get_weather', 'set_light']);
    expect(c.room.vad.silenceDurationMs).toBe(700);
    expect(c.room.compression.enabled).toBe(false);
    expect(c.room.policy).toBe('floor');
    expect(() => loadWorkerConfig({ ...baseEnv, AGENT_VIDEO: 'maybe' })).toThrow(
      /AGENT_VIDEO: Invalid input/,
    );
  });

  it('parses the native-audio options and names the variable of a bad one', () => {
    const c = loadWorkerConfig({
      ...baseEnv,
      AGENT_THINKING_BUDGET: '0',
      AGENT_AFFECTIVE_DIALOG: 'true',
      AGENT_PROACTIVE_AUDIO: '1',
      AGENT_GOOGLE_SEARCH: 'on',
      AGENT_VIDEO_RESOLUTION: 'low',
    });
    expect(c.room.video.resolution).toBe('low');
    expect(() => loadWorkerConfig({ ...baseEnv, AGENT_VIDEO_RESOLUTION: 'ultra' })).toThrow(
      /AGENT_VIDEO_RESOLUTION/,
    );
    expect(c.room).toMatchObject({
      thinkingBudget: 0,
      affectiveDialog: true,
      proactiveAudio: true,
      googleSearch: true,
    });
    const d = loadWorkerConfig(baseEnv).room;
    expect(d).toMatchObject({ googleSearch: false });
    // Unset: the model's default.
    expect(d.affectiveDialog).toBeUndefined();
    expect(d.proactiveAudio).toBeUndefined();
    expect(d.thinkingBudget).toBeUndefined();
    expect(() => loadWorkerConfig({ ...baseEnv, AGENT_THINKING_BUDGET: '-5' })).toThrow(
      /AGENT_THINKING_BUDGET/,
    );
    expect(resolveRoomConfig({}, { roomMetadata: '{"agent":{"proactiveAudio":true}}' }).proactiveAudio).toBe(
      true,
    );
  });

  it('applies room then job metadata overrides, merging nested objects', () => {
    const c = resolveRoomConfig(
      { voice: 'Puck', video: { enabled: false, fps: 0.5 } },
      {
        roomMetadata: JSON.stringify({ policy: 'per-participant', video: { enabled: true }, theme: 'x' }),
        jobMetadata: JSON.stringify({ agent: { voice: 'Kore' } }),
      },
    );
    expect(c.policy).toBe('per-participant');
    expect(c.voice).toBe('Kore');
    expect(c.video).toMatchObject({ enabled: true, fps: 0.5 });
  });

  it('ignores free-form metadata but rejects invalid known keys', () => {
    expect(resolveRoomConfig({}, { roomMetadata: 'hello world' }).policy).toBe('shared');
    expect(() => resolveRoomConfig({}, { jobMetadata: '{"video":{"fps":5}}' })).toThrow(/video\.fps/);
  });

  it('fails metadata that starts with "{" but is not JSON, naming the source and never echoing it', () => {
    expect(() => resolveRoomConfig({}, { roomMetadata: '{"pushToTalk": tru' })).toThrow(
      /^invalid room metadata: starts with "\{" but is not valid JSON/,
    );
    // Where it broke, counted in the trimmed text.
    expect(() => resolveRoomConfig({}, { jobMetadata: ' {oops' })).toThrow(
      /^invalid dispatch metadata: starts with "\{" but is not valid JSON \(at character 1\)$/,
    );
    expect(() => resolveRoomConfig({}, { roomMetadata: '{"secretish": tru' })).not.toThrow(/secretish/);
    // Not meant as JSON: left to the application.
    expect(resolveRoomConfig({}, { roomMetadata: 'tru' }).pushToTalk).toBe(false);
    expect(resolveRoomConfig({}, { roomMetadata: '[1,2]' }).policy).toBe('shared');
  });

  it('unknown tool names are a room configuration error listed with the others', () => {
    const availableTools = ['get_weather', 'set_light'];
    expect(() =>
      resolveRoomConfig(
        {},
        { roomMetadata: '{"tools":["get_weather","no_such_tool"],"policy":"nobody"}' },
        { availableTools },
      ),
    ).toThrow(/policy[\s\S]*tools: unknown tool\(s\) no_such_tool; available: get_weather, set_light/);
    expect(
      resolveRoomConfig({}, { roomMetadata: '{"tools":["set_light"]}' }, { availableTools }).tools,
    ).toEqual(['set_light']);
  });
});

const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';

/** resolveRoomConfig with the worker's tools, collecting its warnings. */
function resolveWithModel(defaults: Parameters<typeof resolveRoomConfig>[0], metadata?: object) {
  const tools = defaultRegistry();
  const warnings: string[] = [];
  const config = resolveRoomConfig(defaults, metadata ? { roomMetadata: JSON.stringify(metadata) } : {}, {
    availableTools: tools.names,
    functions: tools.declarations(),
    warn: (m) => warnings.push(m),
  });
  return { config, warnings, setup: buildLiveConfig(config, tools.declarations()) };
}

describe('the agent follows its model', () => {
  it('defaults to the catalogue’s model', () => {
    expect(DEFAULT_MODEL).toBe(DEFAULT_LIVE_MODEL);
    expect(resolveRoomConfig({}).model).toBe(DEFAULT_LIVE_MODEL);
  });

  it('a setting the model refuses fails the room, naming the model and the setting', () => {
    let err: unknown;
    try {
      resolveWithModel({}, { agent: { model: 'gemini-3.8-live', proactiveAudio: false } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/proactiveAudio: model gemini-3\.8-live refuses it/);
    expect((err as Error).message).toMatch(/proactive_audio cannot be false/);
    // Where the model takes it, the same setting is fine.
    expect(resolveWithModel({ model: M25, proactiveAudio: false }).warnings).toEqual([]);
  });

  it('what the model ignores is left out of the setup with one warning each', () => {
    const on38 = resolveWithModel({ thinkingBudget: 0, affectiveDialog: true, thinkingLevel: 'low' });
    expect(on38.warnings).toHaveLength(2);
    expect(on38.warnings.join('\n')).toMatch(/thinkingBudget: left out of the setup of gemini-3\.8-live/);
    expect(on38.warnings.join('\n')).toMatch(/affectiveDialog: left out/);
    expect(on38.setup.thinkingConfig).toBeUndefined();
    expect(on38.setup.enableAffectiveDialog).toBeUndefined();
    // Switching off what the model does not have holds as asked: nothing to warn about.
    expect(resolveWithModel({ affectiveDialog: false }).warnings).toEqual([]);
    const on25 = resolveWithModel({ model: M25, thinkingLevel: 'high', thinkingBudget: 0 });
    expect(on25.warnings).toEqual([expect.stringMatching(/^thinkingLevel: left out .* thinking_budget/)]);
    expect(on25.setup.thinkingConfig).toEqual({ thinkingBudget: 0 });
    const on31 = resolveWithModel({ model: 'gemini-3.1-flash-live-preview', thinkingLevel: 'minimal' });
    expect(on31.setup.thinkingConfig).toEqual({ thinkingLevel: 'MINIMAL' });
  });

  it('an unknown model is passed through with a warning and the settings as configured', () => {
    const r = resolveWithModel({ model: 'gemini-9-live', thinkingBudget: 0, affectiveDialog: true });
    expect(r.warnings).toEqual([expect.stringMatching(/"gemini-9-live" is not in the catalogue/)]);
    expect(r.setup).toMatchObject({ thinkingConfig: { thinkingBudget: 0 }, enableAffectiveDialog: true });
  });

  it('function declarations state the behaviour each tool gets on the model', () => {
    const behaviors = (model: string) => {
      const tool = resolveWithModel({ model }).setup.tools?.[0] as Tool | undefined;
      return tool?.functionDeclarations?.map((f) => f.behavior);
    };
    expect(behaviors('gemini-3.8-live')).toEqual(['NON_BLOCKING', 'NON_BLOCKING']);
    expect(behaviors(M25)).toEqual(['BLOCKING', 'BLOCKING']);
  });

  it('for every known model, the setup built holds nothing the model ignores, and is refused only where the room fails', () => {
    const variants = [
      {},
      { thinkingBudget: 0 },
      { thinkingLevel: 'high' as const },
      { affectiveDialog: true },
      { affectiveDialog: false },
      { proactiveAudio: true },
      { proactiveAudio: false },
    ];
    for (const model of knownLiveModels()) {
      for (const v of variants) {
        const config = roomConfigSchema.parse({ model, ...v });
        let failed = false;
        try {
          resolveWithModel(config);
        } catch {
          failed = true;
        }
        const setup = buildLiveConfig(config, defaultRegistry().declarations());
        const issues = checkSetup(liveModel(model), settingsFromConfig(setup, liveApiVersion(config)));
        const what = `${model} ${JSON.stringify(v)}`;
        expect(
          issues.filter((i) => i.severity === 'drop'),
          what,
        ).toEqual([]);
        expect(
          issues.some((i) => i.severity === 'refuse'),
          what,
        ).toBe(failed);
      }
    }
  });
});

describe('agent environment', () => {
  it('every invalid setting is a ConfigError, operations settings included', () => {
    expect(() => opsSettings({ AGENT_DRAIN_TIMEOUT_S: '-1' })).toThrow(ConfigError);
    expect(() => readAgentEnv({ ...baseEnv, AGENT_LOG_LEVEL: 'loud' })).toThrow(ConfigError);
  });

  it('checkpoints: on by default, keyed by LIVEKIT_API_SECRET unless AGENT_CHECKPOINT_SECRET is set; bad values never echoed', () => {
    expect(readAgentEnv(baseEnv).checkpoint).toEqual({ enabled: true, secret: 'secret', intervalMs: 3000 });
    const own = 'x'.repeat(40);
    expect(
      readAgentEnv({
        ...baseEnv,
        AGENT_CHECKPOINT: 'false',
        AGENT_CHECKPOINT_SECRET: own,
        AGENT_CHECKPOINT_INTERVAL_MS: '500',
      }).checkpoint,
    ).toEqual({ enabled: false, secret: own, intervalMs: 500 });
    let err: unknown;
    try {
      readAgentEnv({
        ...baseEnv,
        AGENT_CHECKPOINT_SECRET: 'short-secret-value',
        AGENT_CHECKPOINT_INTERVAL_MS: '-5',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('AGENT_CHECKPOINT_SECRET: must be at least 32 characters');
    expect(msg).toContain('AGENT_CHECKPOINT_INTERVAL_MS');
    expect(msg).not.toContain('short-secret-value');
  });

  it('is read once: worker, operations, log level and the job-process settings', () => {
    const e = readAgentEnv({
      ...baseEnv,
      AGENT_METRICS_PORT: 'off',
      AGENT_LOG_LEVEL: 'debug',
      AGENT_LOAD_DIR: '/tmp/x',
      AGENT_IDLE_PROCESSES: '2',
      AGENT_RECONNECT_BACKOFF_MS: '50',
    });
    expect(e.worker.livekitUrl).toBe(baseEnv.LIVEKIT_URL);
    expect(e.ops.metricsPort).toBeUndefined();
    expect(e).toMatchObject({
      logLevel: 'debug',
      loadDir: '/tmp/x',
      idleProcesses: 2,
      reconnectBackoffMs: 50,
    });
    // Not a positive integer: the framework's default, as before.
    expect(readAgentEnv({ ...baseEnv, AGENT_IDLE_PROCESSES: '0' }).idleProcesses).toBeUndefined();
    expect(readAgentEnv(baseEnv)).toMatchObject({ logLevel: 'info', loadDir: undefined });
  });

  it('the worker stops (exit 2) listing the problems of every part, never echoing a secret', () => {
    const main = fileURLToPath(new URL('../agent/main.ts', import.meta.url));
    const r = spawnSync(process.execPath, [main, 'start'], {
      env: {
        PATH: process.env.PATH,
        ...baseEnv,
        LIVEKIT_URL: 'http://x',
        AGENT_METRICS_PORT: '99999',
        AGENT_LOG_LEVEL: 'loud',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/LIVEKIT_URL[\s\S]*AGENT_METRICS_PORT[\s\S]*AGENT_LOG_LEVEL/);
    expect(r.stderr).not.toContain('k-super-secret');
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // a list, not a stack trace
  });
});
