/**
 * LiveKit's pre-connect audio buffer: what a user says before the agent is in the room reaches the
 * Live session first, then the live microphone. Real rtc-node clients send the buffer as LiveKit's
 * clients do (PCM like the mobile SDKs, WebM/Opus like livekit-client in a browser); the browser itself
 * is in web-demo-livekit.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodePreConnectAudio } from '../agent/audio/pre-connect.ts';
import { readWebmOpus } from '../agent/audio/webm.ts';
import type { RoomConfigInput } from '../agent/config.ts';
import type { Logger } from '../agent/log.ts';
import { rmsDbfs } from '../shared/audio/analyze.ts';
import { speechLike, utterance } from '../shared/audio/generate.ts';
import {
  type AgentJoinOptions,
  Human,
  type InProcessAgent,
  MIC_RATE,
  type Stack,
  startAgent,
  startStack,
  until,
} from './fixtures/agent/kit.ts';
import { encodeWebmOpus } from './fixtures/agent/webm.ts';

let stack: Stack | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  await stack?.close();
  stack = undefined;
}, 120_000);

/** A logger that keeps every line (message and fields, bindings included). */
function captureLogs(): { logger: Logger; lines: { msg: string; fields: Record<string, unknown> }[] } {
  const lines: { msg: string; fields: Record<string, unknown> }[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const put = (obj: object | string, msg?: string) =>
      typeof obj === 'string'
        ? lines.push({ msg: obj, fields: bindings })
        : lines.push({ msg: msg ?? '', fields: { ...bindings, ...obj } });
    return { debug() {}, info: put, warn: put, error: put, child: (b) => make({ ...bindings, ...b }) };
  };
  return { logger: make({}), lines };
}

async function human(s: Stack, room: string, identity: string, preConnect = true): Promise<Human> {
  const h = await Human.join(s.lk, room, identity, { preConnect });
  cleanups.push(() => h.close());
  return h;
}

/** The agent joins (as `kind: agent`) while the humans are already talking; resolves once started. */
function agentJoins(
  s: Stack,
  room: string,
  config: RoomConfigInput,
  o: AgentJoinOptions = {},
): Promise<InProcessAgent> {
  return startAgent(s, room, config, 'agent-test', { kind: 'agent', ...o }).then((a) => {
    cleanups.push(a.close);
    return a;
  });
}

function pcmBytes(samples: Int16Array): Uint8Array {
  return new Uint8Array(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
}

/** Seconds of speech the Gemini emulator heard in a user turn (`[speech 1.2s]`). */
function speechSeconds(text: string): number {
  const m = /^\[speech (\d+\.\d)s\]$/.exec(text);
  if (!m) throw new Error(`not an utterance transcript: ${text}`);
  return Number(m[1]);
}

/**
 * An utterance of 1.2 s of speech cut in the middle: the first 0.6 s are what the client recorded
 * before the agent was there, the rest is spoken live. Heard as one 1.2 s turn only when the buffer
 * comes first and the live audio follows without a gap.
 */
function splitUtterance(seed = 1): { before: Int16Array; live: Int16Array } {
  const all = utterance(MIC_RATE, { lead: 0.2, speech: 1.2, trail: 1.2, seed });
  const cut = Math.round(0.8 * MIC_RATE);
  return { before: all.slice(0, cut), live: all.slice(cut) };
}

describe('pre-connect audio: decoding', () => {
  it('WebM/Opus as MediaRecorder writes it decodes to 16 kHz mono frames of the same length', async () => {
    const speech = speechLike(1.0, MIC_RATE, { amplitude: 0.5, seed: 2 });
    const webm = encodeWebmOpus(speech, { clusterMs: 400 });
    expect(readWebmOpus(webm).packets).toHaveLength(50);
    const frames = await decodePreConnectAudio(webm, {
      mimeType: 'audio/webm;codecs=opus',
      sampleRate: 48_000,
      channels: 1,
    });
    expect(frames.every((f) => f.sampleRate === 16_000 && f.channels === 1)).toBe(true);
    const samples = frames.reduce((n, f) => n + f.data.length, 0);
    // 1 s less the decoder's pre-skip (312 samples at 48 kHz).
    expect(samples).toBeGreaterThan(15_800);
    expect(samples).toBeLessThanOrEqual(16_000);
    expect(rmsDbfs(frames[25]!.data)).toBeGreaterThan(-30);
  });

  it('s16le PCM at the attributes rate and channels is mixed to mono and resampled', async () => {
    const mono = speechLike(0.5, 24_000, { amplitude: 0.5, seed: 3 });
    const stereo = new Int16Array(mono.length * 2);
    for (let i = 0; i < mono.length; i++) stereo[2 * i] = stereo[2 * i + 1] = mono[i]!;
    const frames = await decodePreConnectAudio(pcmBytes(stereo), {
      mimeType: 'application/octet-stream',
      sampleRate: 24_000,
      channels: 2,
    });
    const samples = frames.reduce((n, f) => n + f.data.length, 0);
    expect(Math.abs(samples - 8000)).toBeLessThan(200);
    expect(frames[0]!.data).toHaveLength(320);
  });

  it('refuses what it cannot take: not WebM, truncated header, no Opus, MP4, too long', async () => {
    const fmt = { mimeType: 'audio/webm;codecs=opus', sampleRate: 48_000, channels: 1 };
    const webm = encodeWebmOpus(speechLike(0.5, MIC_RATE, { seed: 4 }));
    await expect(decodePreConnectAudio(new Uint8Array(500).fill(7), fmt)).rejects.toThrow(/EBML/);
    await expect(decodePreConnectAudio(webm.slice(0, 20), fmt)).rejects.toThrow();
    await expect(decodePreConnectAudio(webm, { ...fmt, mimeType: 'video/mp4' })).rejects.toThrow(
      /unsupported/,
    );
    await expect(decodePreConnectAudio(webm, { ...fmt })).resolves.toBeTruthy();
    await expect(decodePreConnectAudio(webm, fmt, { maxMs: 200 })).rejects.toThrow(/longer/);
    const pcm = pcmBytes(speechLike(1, 48_000));
    await expect(
      decodePreConnectAudio(pcm, { mimeType: '', sampleRate: 48_000, channels: 1 }, { maxMs: 500 }),
    ).rejects.toThrow(/longer/);
  });
});

describe('pre-connect audio: rtc-node clients before the agent joins', { timeout: 240_000 }, () => {
  it('PCM (mobile SDKs): the first words come first, the live words follow in one turn, answered', async () => {
    stack = await startStack();
    const alice = await human(stack, 'pc-pcm', 'alice');
    const { before, live } = splitUtterance();
    const agent = agentJoins(stack, 'pc-pcm', {});
    await alice.sendPreConnect(pcmBytes(before), { sampleRate: MIC_RATE, channels: 1 });
    await alice.mic.play(live);
    await agent;
    const user = await until(() => alice.finals(alice.mic.sid)[0], 'user transcript');
    expect(speechSeconds(user.text)).toBeGreaterThanOrEqual(1.1);
    const agentSid = await until(() => alice.agentTrackSid(), 'agent track');
    await until(() => alice.finals(agentSid)[0], 'agent transcript');
    await until(() => alice.heardMs('agent_audio') > 300, 'answer heard');
    expect(alice.finals(alice.mic.sid)).toHaveLength(1);
  });
});
