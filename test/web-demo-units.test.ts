/** The web demo's browser-independent pieces, run in Node: transcript model, config, light, PCM codec. */
import { describe, expect, it } from 'vitest';
import { base64ToInt16, int16ToBase64, rateOf } from '../web-demo/src/audio/pcm.ts';
import { ConfigError, parseConfig } from '../web-demo/src/config.ts';
import { parseLight } from '../web-demo/src/light.ts';
import { type Speaker, Transcript, type TranscriptEntry } from '../web-demo/src/transcript.ts';

const ada: Speaker = { identity: 'ada', name: 'Ada', role: 'self' };
const agent: Speaker = { identity: 'agent', name: 'Agent', role: 'agent' };

describe('Transcript', () => {
  it('keeps one entry per segment in first-heard order; a newer version replaces, deltas append', () => {
    const t = new Transcript();
    const updates: TranscriptEntry[] = [];
    t.on('update', (e) => updates.push({ ...e }));
    t.set('ada:1', ada, 'hello wor', false);
    t.append('agent:1', agent, 'Hi ');
    t.set('ada:1', ada, 'hello world', true);
    t.append('agent:1', agent, 'there');
    t.finalize('agent:1');
    expect(t.entries.map((e) => [e.id, e.text, e.final])).toEqual([
      ['ada:1', 'hello world', true],
      ['agent:1', 'Hi there', true],
    ]);
    expect(updates).toHaveLength(5);
  });

  it('does not reopen a final segment with a late interim version', () => {
    const t = new Transcript();
    t.set('s', ada, 'final text', true);
    t.set('s', ada, 'final te', false);
    expect(t.entries[0]).toMatchObject({ text: 'final text', final: true });
  });
});

describe('parseConfig', () => {
  it('applies defaults and trims the token server URL', () => {
    expect(parseConfig({ tokenServerUrl: 'http://127.0.0.1:8090/' })).toEqual({
      tokenServerUrl: 'http://127.0.0.1:8090',
      geminiBaseUrl: undefined,
      geminiModel: 'gemini-3.8-live',
      agentName: '',
      agentJoinTimeoutMs: 20_000,
    });
  });

  it('names the offending field', () => {
    expect(() => parseConfig({})).toThrow(/tokenServerUrl/);
    expect(() => parseConfig(null)).toThrow(ConfigError);
    expect(() => parseConfig({ tokenServerUrl: 'http://x', agentJoinTimeoutMs: -1 })).toThrow(
      /agentJoinTimeoutMs/,
    );
    expect(() => parseConfig({ tokenServerUrl: 'http://x', agentName: 5 })).toThrow(/agentName/);
  });
});

describe('parseLight', () => {
  it('accepts {on, color?} and normalises the colour', () => {
    expect(parseLight({ on: true, color: 'RED' })).toEqual({ on: true, color: 'red' });
    expect(parseLight({ on: false })).toEqual({ on: false });
    expect(parseLight({ on: true, color: '#00ff00' })).toEqual({ on: true, color: '#00ff00' });
  });

  it('refuses anything else with a reason', () => {
    expect(() => parseLight('on')).toThrow(/object/);
    expect(() => parseLight({ on: 'yes' })).toThrow(/"on"/);
    expect(() => parseLight({ on: true, color: 'url(javascript:x)' })).toThrow(/"color"/);
  });
});

describe('PCM base64', () => {
  it('round-trips 16-bit samples and reads the rate from a mime type', () => {
    const samples = new Int16Array([0, 1, -1, 32767, -32768, 1234]);
    expect([...base64ToInt16(int16ToBase64(samples))]).toEqual([...samples]);
    const big = new Int16Array(100_000).map((_, i) => (i * 37) % 65536);
    expect(base64ToInt16(int16ToBase64(big))).toEqual(big);
    expect(rateOf('audio/pcm;rate=24000', 16_000)).toBe(24_000);
    expect(rateOf(undefined, 16_000)).toBe(16_000);
  });
});
