import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_MODEL, loadWorkerConfig, resolveRoomConfig } from '../agent/config.ts';

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
