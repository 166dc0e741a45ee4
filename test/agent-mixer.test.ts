import { describe, expect, it } from 'vitest';
import type { PcmFrame } from '../agent/audio/frame.ts';
import { InputMixer } from '../agent/bridge/mixer.ts';
import { TalkerTracker } from '../agent/bridge/talkers.ts';
import { silence, tone } from '../shared/audio/generate.ts';

const frame = (v: number, n = 320, sampleRate = 16_000): PcmFrame => ({
  data: new Int16Array(n).fill(v),
  sampleRate,
  channels: 1,
});
const mono = (data: Int16Array, sampleRate = 16_000): PcmFrame => ({ data, sampleRate, channels: 1 });

describe('input mixer', () => {
  it('passes a single talker straight through, frame by frame', () => {
    const out: PcmFrame[] = [];
    const m = new InputMixer((f) => out.push(f));
    m.push('a', frame(100), 0);
    m.push('a', frame(200), 20);
    expect(out.map((f) => f.data[0])).toEqual([100, 200]);
  });

  it('sums concurrent talkers sample by sample and clips', () => {
    const out: PcmFrame[] = [];
    const m = new InputMixer((f) => out.push(f));
    m.push('a', frame(1000), 0); // nobody else yet: out at once
    m.push('b', frame(500), 1); // waits for a's next frame
    m.push('a', frame(30_000), 2);
    expect(out.map((f) => f.data[0])).toEqual([1000, 30_500]);
    m.push('b', frame(30_000), 3);
    m.push('a', frame(30_000), 4);
    expect(out.at(-1)!.data[0]).toBe(32_767);
  });

  it('does not let a lagging talker hold the others back beyond maxLagFrames', () => {
    const out: PcmFrame[] = [];
    const m = new InputMixer((f) => out.push(f), { maxLagFrames: 2, activeMs: 1000 });
    m.push('a', frame(1), 0);
    m.push('b', frame(2), 0);
    m.push('a', frame(1), 0);
    expect(out.map((f) => f.data[0])).toEqual([1, 3]);
    // b goes quiet but is still "active": a waits up to 2 frames, then goes on alone.
    m.push('a', frame(1), 10);
    m.push('a', frame(1), 20);
    expect(out).toHaveLength(2);
    m.push('a', frame(1), 30);
    expect(out).toHaveLength(3);
    // b leaves: nothing is held back any more.
    m.remove('b');
    expect(out).toHaveLength(5);
    m.push('a', frame(7), 40);
    expect(out.at(-1)!.data[0]).toBe(7);
  });

  it('keeps the frames’ own rate: a mix of 24 kHz frames is 24 kHz, frames of different rates are not summed', () => {
    const out: PcmFrame[] = [];
    const m = new InputMixer((f) => out.push(f));
    m.push('a', frame(1, 480, 24_000), 0);
    m.push('b', frame(2, 480, 24_000), 1);
    m.push('a', frame(1, 480, 24_000), 2);
    expect(out.map((f) => [f.data[0], f.sampleRate])).toEqual([
      [1, 24_000],
      [3, 24_000],
    ]);
    m.push('b', frame(5, 320, 16_000), 3);
    m.push('a', frame(1, 480, 24_000), 4);
    expect(out.slice(2).map((f) => [f.data[0], f.sampleRate])).toEqual([
      [1, 24_000],
      [5, 16_000],
    ]);
  });

  it('treats a talker silent for longer than activeMs as gone', () => {
    const out: PcmFrame[] = [];
    const m = new InputMixer((f) => out.push(f), { activeMs: 100 });
    m.push('a', frame(1), 0);
    m.push('b', frame(2), 0);
    m.push('a', frame(1), 0);
    m.push('b', frame(2), 500); // a last pushed 500 ms ago: b goes alone
    expect(out.map((f) => f.data[0])).toEqual([1, 3, 2]);
  });
});

describe('talker tracker', () => {
  it('tracks talking with a hangover in audio time and names the dominant talker', () => {
    const t = new TalkerTracker({ hangoverMs: 100 });
    const changes: (string | undefined)[] = [];
    t.onActiveChange = (id) => changes.push(id);
    const loud = mono(tone(0.02, 16_000, { frequency: 300, amplitude: 0.3 }));
    const quiet = mono(silence(0.02, 16_000));
    expect(t.push('alice', quiet)).toBe(false);
    for (let i = 0; i < 10; i++) t.push('alice', loud);
    for (let i = 0; i < 3; i++) t.push('bob', loud);
    expect(changes).toEqual(['alice', 'bob']);
    expect(t.dominant()).toBe('alice');
    for (let i = 0; i < 3; i++) expect(t.push('alice', quiet)).toBe(true);
    for (let i = 0; i < 3; i++) t.push('alice', quiet);
    expect(t.isTalking('alice')).toBe(false);
    expect(t.silentFor('alice')).toBeGreaterThanOrEqual(100);
    t.resetTurn();
    for (let i = 0; i < 2; i++) t.push('bob', loud);
    expect(t.dominant()).toBe('bob');
  });

  it('counts audio time from each frame’s own rate and channels', () => {
    const t = new TalkerTracker();
    t.push('carol', mono(tone(0.02, 24_000, { frequency: 300, amplitude: 0.3 }), 24_000));
    // 20 ms of 48 kHz stereo: 1920 interleaved samples.
    for (let i = 0; i < 3; i++)
      t.push('carol', { data: new Int16Array(1920), sampleRate: 48_000, channels: 2 });
    expect(t.silentFor('carol')).toBe(60);
  });
});
