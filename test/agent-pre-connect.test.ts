/**
 * LiveKit's pre-connect audio buffer: what a user says before the agent is in the room reaches the
 * Live session first, then the live microphone. Real rtc-node clients send the buffer as LiveKit's
 * clients do (PCM like the mobile SDKs, WebM/Opus like livekit-client in a browser); the browser itself
 * is in web-demo-livekit.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodePreConnectAudio } from '../agent/audio/pre-connect.ts';
import { readWebmOpus } from '../agent/audio/webm.ts';
import type { RoomConfigInput } from '../agent/config.ts';
import type { Logger } from '../agent/log.ts';
import { rmsDbfs } from '../shared/audio/analyze.ts';
import { speechLike, utterance } from '../shared/audio/generate.ts';
import { encodeWav } from '../shared/audio/wav.ts';
import {
  type AgentJoinOptions,
  Human,
  type InProcessAgent,
  MIC_RATE,
  type Stack,
  startAgent,
  startStack,
  token,
  until,
} from './fixtures/agent/kit.ts';
import { encodeWebmOpus } from './fixtures/agent/webm.ts';
import { waitFor } from './fixtures/wait.ts';
import { launchChromium } from './fixtures/web/browser.ts';

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
    // The live half alone is 0.6 s; without the buffer first (or with it after the live audio) this
    // is neither one turn nor 1.2 s.
    expect(speechSeconds(user.text)).toBeGreaterThanOrEqual(1.1);
    expect(speechSeconds(user.text)).toBeLessThanOrEqual(1.3);
    const agentSid = await until(() => alice.agentTrackSid(), 'agent track');
    await until(() => alice.finals(agentSid)[0], 'agent transcript');
    await until(() => alice.heardMs('agent_audio') > 300, 'answer heard');
    expect(alice.finals(alice.mic.sid)).toHaveLength(1);
  });

  it('WebM/Opus (livekit-client): an utterance only in the buffer is transcribed and answered', async () => {
    stack = await startStack();
    const alice = await human(stack, 'pc-webm', 'alice');
    const agent = agentJoins(stack, 'pc-webm', {});
    const said = utterance(MIC_RATE, { lead: 0.2, speech: 1.0, trail: 0.6, seed: 5 });
    await alice.sendPreConnect(encodeWebmOpus(said), { mimeType: 'audio/webm;codecs=opus' });
    await alice.mic.quiet(1.5);
    await agent;
    const user = await until(() => alice.finals(alice.mic.sid)[0], 'user transcript');
    expect(speechSeconds(user.text)).toBeGreaterThanOrEqual(0.9);
    await until(() => alice.heardMs('agent_audio') > 300, 'answer heard');
  });

  it('shared room, two humans: each buffer reaches the one session, attributed to its speaker', async () => {
    stack = await startStack();
    const alice = await human(stack, 'pc-shared', 'alice');
    const bob = await human(stack, 'pc-shared', 'bob');
    const agent = agentJoins(stack, 'pc-shared', { policy: 'shared' });
    const a = utterance(MIC_RATE, { lead: 0.2, speech: 1.0, trail: 0.2, seed: 6 });
    const b = utterance(MIC_RATE, { lead: 0.2, speech: 0.8, trail: 0.2, seed: 7 });
    // Alice's words, then Bob's (as Android sends PCM: whole, with totalSize).
    await alice.sendPreConnect(pcmBytes(a));
    await bob.sendPreConnect(pcmBytes(b), { totalSize: b.byteLength });
    await Promise.all([alice.mic.quiet(2), bob.mic.quiet(2)]);
    const { bridge } = await agent;
    const finals = await until(() => {
      const f = alice.finals().filter((t) => t.text.startsWith('[speech'));
      return f.length >= 1 && f;
    }, 'user transcript');
    expect([alice.mic.sid, bob.mic.sid]).toContain(finals[0]!.attributes['lk.transcribed_track_id']);
    await until(() => alice.heardMs('agent_audio') > 300 && bob.heardMs('agent_audio') > 300, 'answer heard');
    expect(bridge.sessionCount).toBe(1);
  });

  it("per-participant room, two humans: each buffer reaches that participant's own session only", async () => {
    stack = await startStack();
    const alice = await human(stack, 'pc-private', 'alice');
    const bob = await human(stack, 'pc-private', 'bob');
    const agent = agentJoins(stack, 'pc-private', { policy: 'per-participant' });
    const a = utterance(MIC_RATE, { lead: 0.2, speech: 1.0, trail: 0.6, seed: 8 });
    const b = utterance(MIC_RATE, { lead: 0.2, speech: 0.7, trail: 0.6, seed: 9 });
    await Promise.all([
      alice.sendPreConnect(encodeWebmOpus(a), { mimeType: 'audio/webm;codecs=opus' }),
      bob.sendPreConnect(pcmBytes(b), { sampleRate: MIC_RATE }),
    ]);
    await Promise.all([alice.mic.quiet(1.5), bob.mic.quiet(1.5)]);
    const { bridge } = await agent;
    const ua = await until(() => alice.finals(alice.mic.sid)[0], "alice's transcript");
    const ub = await until(() => bob.finals(bob.mic.sid)[0], "bob's transcript");
    expect(speechSeconds(ua.text)).toBeGreaterThanOrEqual(0.9);
    expect(speechSeconds(ub.text)).toBeLessThan(0.9);
    await until(
      () => alice.heardMs('agent_audio_alice') > 300 && bob.heardMs('agent_audio_bob') > 300,
      'each answered on their own track',
    );
    // Private: neither got the other's transcript.
    expect(alice.finals(bob.mic.sid)).toHaveLength(0);
    expect(bob.finals(alice.mic.sid)).toHaveLength(0);
    expect(bridge.sessionCount).toBe(2);
  });

  it('push-to-talk: a buffer counts as held speech only while its participant holds the button', async () => {
    stack = await startStack();
    const logs = captureLogs();
    const alice = await human(stack, 'pc-ptt', 'alice');
    const bob = await human(stack, 'pc-ptt', 'bob');
    const { bridge } = await agentJoins(
      stack,
      'pc-ptt',
      { policy: 'per-participant', pushToTalk: true },
      { logger: logs.logger, preConnect: { timeoutMs: 30_000 } },
    );
    await until(() => bridge.state === 'listening', 'listening');
    const rpc = (h: Human, method: string) =>
      h.room.localParticipant!.performRpc({ destinationIdentity: 'agent-test', method, payload: '' });
    // Alice held the button from before the agent was there: her client says so first, then sends.
    await rpc(alice, 'ptt.start');
    const a = utterance(MIC_RATE, { lead: 0.2, speech: 1.0, trail: 0.2, seed: 13 });
    const b = utterance(MIC_RATE, { lead: 0.2, speech: 1.0, trail: 0.2, seed: 14 });
    await Promise.all([alice.sendPreConnect(pcmBytes(a)), bob.sendPreConnect(pcmBytes(b))]);
    await alice.mic.quiet(0.5);
    await rpc(alice, 'ptt.end');
    const user = await until(() => alice.finals(alice.mic.sid)[0], "alice's held words");
    expect(user.text).toMatch(/^\[speech /);
    // Her 1.4 s buffer went first into her session; nothing of Bob's reached his.
    const forwarded = logs.lines.find((l) => l.fields.participant === 'alice' && /forwarded/.test(l.msg));
    expect(forwarded?.fields.ms).toBe(1400);
    const heard = stack.gemini.stats().map((st) => st.audioInSeconds);
    expect(Math.max(...heard)).toBeGreaterThan(1.4);
    expect(Math.min(...heard)).toBe(0);
    await until(() => alice.heardMs('agent_audio_alice') > 300, 'alice answered');
    await until(
      () => logs.lines.some((l) => l.fields.participant === 'bob' && /not taken now/.test(l.msg)),
      "bob's unheld buffer dropped",
    );
    expect(bob.finals(bob.mic.sid)).toHaveLength(0);
  });

  it('bad streams are dropped with a log line and every microphone goes on live', async () => {
    stack = await startStack();
    const logs = captureLogs();
    const names = ['bob', 'carol', 'dave', 'erin', 'frank', 'gina'] as const;
    const h = Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await human(stack!, 'pc-bad', n)] as const)),
    ) as Record<(typeof names)[number], Human>;
    const agent = agentJoins(
      stack,
      'pc-bad',
      { policy: 'shared' },
      {
        logger: logs.logger,
        preConnect: { maxBytes: 20_000, timeoutMs: 6_000 },
      },
    );
    const speech = utterance(MIC_RATE, { lead: 0.2, speech: 0.8, trail: 0.2, seed: 10 });
    const webm = encodeWebmOpus(speech);
    const garbled = webm.slice();
    garbled.fill(0x42, 60, 400); // the track header torn
    await Promise.all([
      h.bob.sendPreConnect(garbled, { mimeType: 'audio/webm;codecs=opus' }),
      // 1.2 s of 48 kHz PCM: fine audio, over this agent's 20 kB (two 15 kB packets).
      h.carol.sendPreConnect(pcmBytes(speech)),
      h.dave.sendPreConnect(pcmBytes(speech.subarray(0, 4800)), { end: 'never' }),
      h.erin.sendPreConnect(pcmBytes(speech), { trackId: h.bob.mic.sid! }),
      h.frank.sendPreConnect(webm, { mimeType: 'video/mp4' }),
      h.gina.sendPreConnect(pcmBytes(speech), { totalSize: 5_000_000, end: 'now' }),
    ]);
    const { bridge } = await agent;
    const dropped = (identity: string, why: RegExp) =>
      logs.lines.some(
        (l) =>
          l.fields.participant === identity && /pre-connect audio dropped/.test(l.msg) && why.test(l.msg),
      );
    await until(() => dropped('bob', /undecodable/), 'malformed WebM dropped');
    await until(() => dropped('carol', /too large/), 'oversize stream dropped');
    await until(() => dropped('dave', /not complete in time/), 'unfinished stream dropped');
    await until(() => dropped('erin', /not one of the sender's microphones/), "someone else's track refused");
    await until(() => dropped('frank', /unsupported format/), 'MP4 refused');
    await until(() => dropped('gina', /too large/), 'announced oversize refused');
    // Nothing of any of it was heard; the microphones are live (dave's waited for its buffer).
    await until(() => bridge.state === 'listening', 'listening');
    expect(h.bob.finals().filter((t) => t.text.startsWith('[speech'))).toHaveLength(0);
    await h.dave.mic.say(1.0, { seed: 11 });
    const user = await until(() => h.bob.finals(h.dave.mic.sid)[0], "dave's live words");
    expect(user.text).toMatch(/^\[speech /);
    await until(() => h.bob.heardMs('agent_audio') > 300, 'answered');
  });
});

describe('pre-connect audio: livekit-client in Chromium before the agent is dispatched', {
  timeout: 240_000,
}, () => {
  it('the first utterance, spoken before the agent joined, is transcribed and answered', async () => {
    stack = await startStack();
    const dir = mkdtempSync(join(tmpdir(), 'pre-connect-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    // One utterance, then silence longer than the test: the live microphone never says anything.
    const wav = join(dir, 'first-words.wav');
    const words = utterance(48_000, { lead: 0.3, speech: 1.2, trail: 60, seed: 12 });
    writeFileSync(wav, encodeWav(words, 48_000));
    const browser = await launchChromium({ wav });
    cleanups.push(() => browser.close());
    const lkClient = readFileSync(
      createRequire(import.meta.url).resolve('livekit-client') /* the UMD build */,
    );
    const server = createServer((req, res) => {
      if (req.url === '/lk.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(lkClient);
      else
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script src="/lk.js"></script>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const userToken = await token(stack.lk, 'carol', { room: 'pc-browser' });
    // What useSession().start() does: connect and enable the microphone with the pre-connect buffer,
    // together. A meter on the microphone tells when the user has finished the first utterance.
    await page.evaluate(
      async ({ url, tok }) => {
        const LK = (window as unknown as { LivekitClient: typeof import('livekit-client') }).LivekitClient;
        const room = new LK.Room();
        const w = window as unknown as Record<string, unknown>;
        w.finals = [] as { text: string; track: string }[];
        room.registerTextStreamHandler('lk.transcription', async (reader) => {
          const text = await reader.readAll();
          // After the read: a final may come in the stream's trailer.
          const attrs = reader.info.attributes ?? {};
          (w.finals as { text: string; track: string; final: boolean }[]).push({
            text,
            track: attrs['lk.transcribed_track_id'] ?? '',
            final: attrs['lk.transcription_final'] === 'true',
          });
        });
        await Promise.all([
          room.connect(url, tok),
          room.localParticipant.setMicrophoneEnabled(true, undefined, { preConnectBuffer: true }),
        ]);
        const pub = room.localParticipant.getTrackPublication(LK.Track.Source.Microphone)!;
        w.micSid = pub.trackSid;
        const ctx = new AudioContext();
        const analyser = ctx.createAnalyser();
        ctx.createMediaStreamSource(new MediaStream([pub.track!.mediaStreamTrack])).connect(analyser);
        const buf = new Float32Array(analyser.fftSize);
        let loud = 0;
        let quietSince = 0;
        const tick = setInterval(() => {
          analyser.getFloatTimeDomainData(buf);
          const rms = Math.sqrt(buf.reduce((s, v) => s + v * v, 0) / buf.length);
          if (rms > 0.05) {
            loud++;
            quietSince = performance.now();
          }
          if (loud > 5 && performance.now() - quietSince > 700) {
            w.spoke = true;
            clearInterval(tick);
          }
        }, 20);
      },
      { url: stack.lk.url, tok: userToken },
    );
    await page.waitForFunction(() => (window as unknown as { spoke?: boolean }).spoke === true, undefined, {
      timeout: 60_000,
    });
    // The agent is dispatched now, after the words were said.
    await agentJoins(stack, 'pc-browser', {});
    const micSid = await page.evaluate(() => (window as unknown as { micSid: string }).micSid);
    const finals = () =>
      page.evaluate(
        () => (window as unknown as { finals: { text: string; track: string; final: boolean }[] }).finals,
      );
    try {
      const user = await waitFor(
        async () => (await finals()).find((f) => f.final && f.track === micSid),
        'user transcript',
        120_000,
      );
      expect(speechSeconds(user.text)).toBeGreaterThanOrEqual(1.0);
      await waitFor(
        async () => (await finals()).some((f) => f.track !== micSid && f.text.length > 0),
        'answer',
        120_000,
      );
    } catch (err) {
      console.log(logs.join('\n'), JSON.stringify(await finals()));
      throw err;
    }
  });
});
