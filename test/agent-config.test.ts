import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_MODEL,
  loadWorkerConfig,
  opsSettings,
  readAgentEnv,
  resolveRoomConfig,
} from '../agent/config.ts';

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
    expect(d).toMatchObject({ affectiveDialog: false, proactiveAudio: false, googleSearch: false });
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
    expect(() => resolveRoomConfig({}, { jobMetadata: ' {oops' })).toThrow(/dispatch metadata/);
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

describe('agent environment', () => {
  it('every invalid setting is a ConfigError, operations settings included', () => {
    expect(() => opsSettings({ AGENT_DRAIN_TIMEOUT_S: '-1' })).toThrow(ConfigError);
    expect(() => readAgentEnv({ ...baseEnv, AGENT_LOG_LEVEL: 'loud' })).toThrow(ConfigError);
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
