/**
 * Correctness of the bench's measuring instruments (no timing assertions): the Live-socket tap relays
 * a real SDK session faithfully and timestamps the right frames, the statistics helpers compute what
 * the report says, and the /proc sampler sees a process tree.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Room } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapacityLevel, CapacityResult } from '../bench/lib/capacity.ts';
import { summarizeCapacity } from '../bench/lib/capacity-report.ts';
import { FrameLateness, LoopMonitor, mergeLateness, summarizeLateness } from '../bench/lib/lateness.ts';
import { ChildGenerator, GeneratorPool } from '../bench/lib/loadgen-process.ts';
import { readProbe } from '../bench/lib/phases.ts';
import { cpuBetween, processTree, sampleTree, threadCpu, threadShares } from '../bench/lib/proc.ts';
import { percentile, ratio, spread, summarize } from '../bench/lib/stats.ts';
import { LiveTap } from '../bench/lib/tap.ts';
import { BenchUser } from '../bench/lib/user.ts';
import { judgeLevel, type LevelFigures } from '../bench/lib/verdict.ts';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { utterance } from '../shared/audio/generate.ts';
import { connect, type Recorder, sendPcm } from './fixtures/gemini-client.ts';
import { connectRtc, mintToken, publishTone, startServer, waitFor } from './livekit-helpers.ts';

describe('bench: Live-socket tap', () => {
  let emu: GeminiEmulator;
  let tap: LiveTap;
  const open: Recorder[] = [];

  beforeAll(async () => {
    emu = await start({
      pacing: Number.POSITIVE_INFINITY,
      scenario: { turns: [{ steps: [{ say: 'This is my reply.' }] }], loop: true },
    });
    tap = new LiveTap(emu.url);
    await tap.listen();
  });
  afterAll(async () => {
    for (const r of open) r.session.close();
    await tap.close();
    await emu.close();
  });

  it('relays a session unchanged and stamps voiced input and the first model audio of each turn', async () => {
    const r = await connect(tap.url);
    open.push(r);
    // 0.2 s silence, 0.6 s speech, 1 s silence, in 20 ms chunks: 90 chunks, 30 of them voiced.
    const audio = utterance(16_000, { lead: 0.2, speech: 0.6, trail: 1 });
    sendPcm(r.session, audio, 16_000, 20);
    await r.turnComplete(1);
    sendPcm(r.session, audio, 16_000, 20);
    await r.turnComplete(2);

    const conn = tap.connections.at(-1)!;
    expect(conn.readyAt).toBeDefined();
    expect(conn.audioIn).toHaveLength(180);
    expect(conn.audioInSeconds).toBeCloseTo(3.6, 5);
    const voiced = conn.audioIn.filter((a) => a.voicedMs > 0);
    // The 10 ms edges of the speech-like signal fade in/out, so allow one chunk either side.
    expect(voiced.length).toBeGreaterThanOrEqual(58);
    expect(voiced.length).toBeLessThanOrEqual(62);
    expect(voiced[0]!.voicedFromMs).toBeDefined();
    const firstVoicedIndex = conn.audioIn.indexOf(voiced[0]!);
    expect(firstVoicedIndex).toBeGreaterThanOrEqual(9);
    expect(firstVoicedIndex).toBeLessThanOrEqual(10);
    // One "first audio out" per turn, after that turn's last voiced input.
    expect(conn.firstAudioOut).toHaveLength(2);
    const lastVoicedTurn1 = voiced.filter((a) => conn.audioIn.indexOf(a) < 90).at(-1)!;
    expect(conn.firstAudioOut[0]!).toBeGreaterThanOrEqual(lastVoicedTurn1.at);
    // What the client got is what the emulator sent.
    const stats = emu.stats().at(-1)!;
    expect(r.audioChunks()).toHaveLength(stats.audioOutChunks);
    expect(stats.audioInFrames).toBe(180);
  });

  it('relays the server close code and reason', async () => {
    const r = await connect(tap.url);
    open.push(r);
    const s = emu.sessions().at(-1)!;
    s.close(1011, 'Internal error encountered.');
    const closed = await r.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toBe('Internal error encountered.');
    expect(tap.connections.at(-1)!.closeCode).toBe(1011);
  });

  it('stamps goAway and interrupted', async () => {
    const r = await connect(tap.url);
    open.push(r);
    const s = emu.sessions().at(-1)!;
    s.inject({ serverContent: { interrupted: true } });
    s.goAway(60_000);
    await r.waitFor((m) => m.goAway !== undefined);
    const conn = tap.connections.at(-1)!;
    expect(conn.goAways).toHaveLength(1);
    expect(conn.interrupted).toHaveLength(1);
  });
});

describe('bench: statistics', () => {
  it('interpolates percentiles and ignores non-finite values', () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([5], 0.95)).toBe(5);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([10, 1, Number.NaN, 5], 1)).toBe(10);
    const values = Array.from({ length: 21 }, (_, i) => i * 10); // 0..200
    expect(percentile(values, 0.95)).toBe(190);
    expect(summarize(values)).toMatchObject({ n: 21, p50: 100, p95: 190, mean: 100, max: 200 });
  });

  it('gives ours/reference ratios only when both exist', () => {
    expect(ratio(10, 40)).toBe(0.25);
    expect(ratio(null, 40)).toBeNull();
    expect(ratio(10, 0)).toBeNull();
  });
});

describe('bench: /proc sampler', () => {
  it('finds a child in the tree and adds up CPU and RSS', async () => {
    const child = spawn(process.execPath, ['-e', 'let x = 0; for (;;) { x++; if (x % 1e8 === 0) {} }'], {
      stdio: 'ignore',
    });
    try {
      await new Promise((r) => child.once('spawn', r));
      expect(processTree(process.pid)).toContain(child.pid);
      // CPU time grows while the child spins (condition, not duration).
      const first = sampleTree(child.pid!);
      let later = first;
      for (let i = 0; i < 200 && later.cpuSeconds <= first.cpuSeconds; i++) {
        await new Promise((r) => setTimeout(r, 50));
        later = sampleTree(child.pid!);
      }
      expect(later.cpuSeconds).toBeGreaterThan(first.cpuSeconds);
      expect(later.rssMiB).toBeGreaterThan(1);
      expect(later.pids).toEqual([child.pid]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('bench: CPU of a changing tree', () => {
  it('keeps the CPU of a child that exited between two samples', async () => {
    const child = spawn(process.execPath, ['-e', 'while (process.cpuUsage().user < 500_000) {}'], {
      stdio: 'ignore',
    });
    await new Promise((r) => child.once('spawn', r));
    const before = sampleTree(process.pid);
    expect(before.pids).toContain(child.pid);
    await new Promise((r) => child.once('exit', r));
    const after = sampleTree(process.pid);
    expect(after.pids).not.toContain(child.pid);
    // The child's spinning is counted (through this process's reaped-children time), never negative.
    const childBefore = before.byPid.get(child.pid!)!.cpu;
    expect(cpuBetween(before, after)).toBeGreaterThanOrEqual(0.45 - childBefore);
  });
});

describe('bench: CPU by thread', () => {
  it('charges a spinning thread, per session, and leaves out processes not in both samples', async () => {
    const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const before = threadCpu([child.pid!]);
      const t0 = performance.now();
      let after = before;
      const total = (s: typeof before) => [...(s.get(child.pid!)?.values() ?? [])].reduce((a, b) => a + b, 0);
      for (let i = 0; i < 200 && total(after) < total(before) + 0.2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        after = threadCpu([child.pid!, process.pid]);
      }
      const seconds = (performance.now() - t0) / 1000;
      const shares = threadShares(before, after, seconds, 2);
      const [busiest, pct] = Object.entries(shares)[0]!;
      // One thread spins at about a full core, shared by two sessions; this process (only in the
      // second sample) adds nothing.
      expect(busiest.length).toBeGreaterThan(0);
      expect(pct).toBeGreaterThan(0);
      // At most a core over the window (plus a clock tick of slack), halved for two sessions.
      expect(pct).toBeLessThanOrEqual(60);
      expect(Object.values(shares).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(70);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('bench: in-process agent probe', () => {
  it('records when voice stops arriving from a native AudioStream and when voice is first captured', async () => {
    const server = await startServer();
    const dir = mkdtempSync(join(tmpdir(), 'probe-test-'));
    const pub = await connectRtc(server, 'speaker', 'probe-room');
    let stopTone: (() => void) | undefined;
    try {
      const child = spawn(
        process.execPath,
        [
          `--import=${fileURLToPath(new URL('../bench/lib/agent-probe.ts', import.meta.url))}`,
          'test/fixtures/probe-child.ts',
        ],
        {
          env: {
            ...process.env,
            BENCH_PROBE_DIR: dir,
            PROBE_URL: server.url,
            PROBE_TOKEN: await mintToken(server, 'listener', { room: 'probe-room' }),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      let hearing: () => void = () => {};
      const heard = new Promise<void>((r) => {
        hearing = r;
      });
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('hearing')) hearing();
      });
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      // Voice until the listener hears it and a while longer, then silence (the child waits for both).
      const toneStarted = performance.timeOrigin + performance.now();
      stopTone = await publishTone(pub, 440);
      await Promise.race([heard, exited]);
      await new Promise((r) => setTimeout(r, 600));
      stopTone();
      const toneStopped = performance.timeOrigin + performance.now();
      expect(await exited).toBe(0);
      expect(out).toContain('done');
      const records = readProbe(dir);
      const ins = records.filter((r) => r.dir === 'in');
      const outs = records.filter((r) => r.dir === 'out');
      expect(ins.length).toBeGreaterThanOrEqual(1);
      // The voiced stretch the listener received lies between the tone's start and some time after its end.
      const run = ins.find((r) => r.end! - r.start > 300)!;
      if (!run) throw new Error(`no long voiced stretch among ${JSON.stringify(ins)}`);
      expect(run).toBeDefined();
      expect(run.start).toBeGreaterThanOrEqual(toneStarted);
      expect(run.end).toBeGreaterThanOrEqual(run.start);
      expect(run.start).toBeLessThan(toneStopped);
      expect(outs).toHaveLength(1);
      expect(outs[0]!.start).toBeGreaterThan(run.end!);
    } finally {
      stopTone?.();
      await pub.disconnect();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bench: CPU profile summary', () => {
  it('sums the steady state of job processes that served a session, by package', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpu-profile-test-'));
    const root = new URL('../', import.meta.url).href;
    const frame = (id: number, functionName: string, url: string) => ({
      id,
      callFrame: { functionName, url, lineNumber: 0 },
    });
    // Samples of 1 ms each: the two before the 2.5 ms skip are dropped; then idle, rtc-node ×3, agent ×1.
    const job = {
      nodes: [
        frame(1, '(idle)', ''),
        frame(2, 'main', `${root}node_modules/@livekit/agents/dist/ipc/job_proc_lazy_main.js`),
        frame(3, 'onEvent', `${root}node_modules/@livekit/rtc-node/dist/audio_stream.cjs`),
        frame(4, 'sendAudio', `${root}agent/live/session.ts`),
      ],
      samples: [2, 2, 1, 3, 3, 3, 4],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000],
    };
    // A pre-forked process that never got a job, and a process that is not a job process at all.
    const idle = { ...job, samples: [2, 2, 2, 2, 2, 2, 2] };
    const other = {
      nodes: [frame(1, 'x', `${root}bench/lib/user.ts`)],
      samples: [1, 1],
      timeDeltas: [1000, 1000],
    };
    writeFileSync(join(dir, 'a.cpuprofile'), JSON.stringify(job));
    writeFileSync(join(dir, 'b.cpuprofile'), JSON.stringify(idle));
    writeFileSync(join(dir, 'c.cpuprofile'), JSON.stringify(other));
    try {
      const child = spawn(process.execPath, ['bench/cpu-profile.ts', dir, '--skip', '0.0025'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      expect(await new Promise((r) => child.once('exit', r))).toBe(0);
      expect(out).toContain('1 job processes, 0.0 s busy each after the first 0.0025 s');
      expect(out).toMatch(/75\.0 % {2}@livekit\/rtc-node\n/);
      expect(out).toMatch(/25\.0 % {2}agent\/live\/\n/);
      expect(out).not.toContain('@livekit/agents\n');
      expect(out).not.toContain('bench/lib/');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Blocks this thread's event loop for `ms` (a stall of the generator, whatever the machine's load). */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe("bench: the load generator's own lateness", () => {
  it('summarises frame lateness per 1 ms bucket, merged across users and processes', () => {
    const a = new FrameLateness();
    for (let i = 0; i < 98; i++) a.record(2.5);
    a.record(25);
    const b = new FrameLateness();
    b.record(400);
    b.drop(3);
    const s = summarizeLateness(mergeLateness([a.data(), b.data()]));
    expect(s).toMatchObject({ frames: 100, late: 2, dropped: 3, maxMs: 400, p50Ms: 3 });
    // 2 late + 3 dropped of 103 frames due.
    expect(s.latePct).toBe(4.9);
    expect(s.p99Ms).toBe(26);
    a.reset();
    expect(summarizeLateness(a.data())).toMatchObject({ frames: 0, p50Ms: null, latePct: 0 });
  });

  it("a stalled event loop shows as the simulated user's late and dropped frames and as loop delay", async () => {
    const server = await startServer();
    const user = new BenchUser({
      livekit: { url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret },
      room: 'lateness',
      identity: 'user',
    });
    const loop = new LoopMonitor();
    try {
      await user.connect();
      await user.pause(0.1); // the pump is running: frames are due every 10 ms
      user.lateness.reset();
      loop.reset();
      // The histogram's first interval after a reset is not recorded: let one pass.
      await new Promise((r) => setTimeout(r, 50));
      busy(300);
      await user.pause(0.1);
      const s = summarizeLateness(user.lateness.data());
      // 300 ms behind: the frames of the stall are skipped (> 200 ms) and counted as dropped.
      expect(s.dropped).toBeGreaterThanOrEqual(20);
      expect(s.latePct).toBeGreaterThan(0);
      expect(loop.read().maxMs).toBeGreaterThanOrEqual(250);
    } finally {
      loop.close();
      await user.close();
      await server.close();
    }
  });

  it('a generator process reports its own event-loop delay over IPC, window by window', async () => {
    const gen = new ChildGenerator({
      livekit: { url: 'ws://127.0.0.1:1', apiKey: 'k', apiSecret: 's' },
      agentName: 'none',
      prefix: 'test',
    });
    try {
      await gen.ready;
      expect(gen.pid).not.toBe(process.pid);
      await gen.windowStart();
      await new Promise((r) => setTimeout(r, 50)); // the interval spanning the reset is not recorded
      await gen.request('stall', { ms: 300 });
      const stalled = await gen.windowEnd();
      expect(stalled.loop.maxMs).toBeGreaterThanOrEqual(250);
      expect(stalled).toMatchObject({ users: 0, records: [], lateness: { frames: 0 } });
      // A new window starts from zero.
      await gen.windowStart();
      const next = await gen.windowEnd();
      expect(next.loop.maxMs).toBeLessThan(stalled.loop.maxMs);
    } finally {
      await gen.close();
    }
  });
});

describe("bench: the load generator's users", () => {
  it('gives every user a room of its own across generator processes, and counts a reply that never comes as missed', async () => {
    const server = await startServer();
    const livekit = { url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret };
    const rooms = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
    // A stand-in agent in each new room: a voice in 0.3 s bursts every 0.6 s, so every utterance is
    // followed by a "reply" until it stops.
    const agents = new Map<string, Promise<{ room: Room; stop: () => void }>>();
    const watch = setInterval(() => {
      rooms.listRooms().then(
        (list) => {
          for (const { name } of list) {
            if (agents.has(name)) continue;
            const joined = connectRtc(server, 'agent', name).then(async (room) => ({
              room,
              stop: await publishTone(room, 440, 'voice', { onMs: 300, offMs: 300 }),
            }));
            joined.catch(() => {});
            agents.set(name, joined);
          }
        },
        () => {},
      );
    }, 50);
    const pool = await GeneratorPool.start(2, { livekit, agentName: 'nobody', prefix: 'pool' });
    try {
      // Four users at once, two per generator process (the capacity phase adds two at a time). Rooms
      // named in each process collided when two were added in the same millisecond: the later user
      // replaced the earlier one (same identity), whose turns all went unanswered.
      const names = await Promise.all([pool.addUser(), pool.addUser(), pool.addUser(), pool.addUser()]);
      expect(new Set(names).size).toBe(4);
      // The rooms on the server are those four, each with its user and its agent.
      expect((await rooms.listRooms()).map((r) => r.name).sort()).toEqual([...names].sort());
      for (const name of names) {
        const identities = (await rooms.listParticipants(name)).map((p) => p.identity).sort();
        expect(identities).toEqual(['agent', 'user']);
      }
      await pool.windowStart();
      await waitFor(async () => (await pool.windowEnd()).records.length >= 4, 'answered turns');
      expect((await pool.windowEnd()).records.filter((r) => r.missed)).toEqual([]);
      // One agent goes quiet: its user's next turn waits 10 s for a reply and is counted as missed.
      (await agents.get(names[0]!)!).stop();
      const w = await waitFor(
        async () => {
          const w = await pool.windowEnd();
          return w.records.some((r) => r.missed) && w;
        },
        'a missed reply',
        60_000,
      );
      expect(w.records.some((r) => !r.missed)).toBe(true);
    } finally {
      clearInterval(watch);
      await pool.close();
      for (const a of agents.values()) await a.then((x) => x.room.disconnect()).catch(() => {});
      await server.close();
    }
  }, 120_000);
});

describe('bench: capacity verdicts', () => {
  const calm: LevelFigures = {
    joinFailures: 0,
    missedReplies: 0,
    roundTripP95: 700,
    baselineP95: 660,
    gapShare: 0.05,
    baselineGapShare: 0,
    generatorFrames: { frames: 10_000, late: 10, dropped: 0, latePct: 0.1, p50Ms: 2, p99Ms: 5, maxMs: 30 },
    generatorLoop: { p50Ms: 0.1, p99Ms: 5, maxMs: 20 },
    devServerLoop: { p50Ms: 0.1, p99Ms: 5, maxMs: 20 },
    benchLoop: { p50Ms: 0.1, p99Ms: 5, maxMs: 20 },
  };

  it('passes a level within bounds and charges a slow round trip or underruns to the agent', () => {
    expect(judgeLevel(calm)).toEqual({ verdict: 'pass', agentReasons: [], benchReasons: [] });
    const slow = judgeLevel({ ...calm, roundTripP95: 1424, gapShare: 0.6 });
    expect(slow.verdict).toBe('agent-limited');
    expect(slow.agentReasons).toEqual([
      '60% of replies with underruns',
      'round-trip p95 1424 ms > 2× 660 ms',
    ]);
  });

  it("does not charge the agent when the generator was late (the issue's 4-session level)", () => {
    // 254 late frames of 4 users over 25 s, and the same slow round trip as above.
    const late = judgeLevel({
      ...calm,
      roundTripP95: 1424,
      generatorFrames: { ...calm.generatorFrames, late: 254, latePct: 2.5 },
    });
    expect(late.verdict).toBe('generator-limited');
    expect(late.benchReasons[0]).toContain('2.5% of user frames late or dropped');
    expect(late.agentReasons).toHaveLength(1); // still listed, not charged
    for (const where of ['generatorLoop', 'devServerLoop', 'benchLoop'] as const)
      expect(judgeLevel({ ...calm, [where]: { p50Ms: 1, p99Ms: 80, maxMs: 200 } }).verdict).toBe(
        'generator-limited',
      );
  });
});

describe('bench: capacity over repeated runs', () => {
  const level = (target: number, cpu: number, verdict: CapacityLevel['verdict']): CapacityLevel => ({
    target,
    sessions: target,
    joinFailures: 0,
    turns: 2,
    missedReplies: 0,
    underruns: 0,
    workerCpuPercent: 30,
    devServerCpuPercent: 10,
    benchCpuPercent: 5,
    generatorCpuPercent: 20,
    workerRssMiB: 900,
    roundTrip: [600, 700],
    cpuSecondsPerSessionMinute: cpu,
    rssPerSessionMiB: 200,
    repliesWithGapsPct: 0,
    otherCpuPercent: 1,
    verdict,
    agentReasons: [],
    benchReasons: [],
    generatorFrames: { frames: 1, late: 0, dropped: 0, latePct: 0.5, p50Ms: 1, p99Ms: 2, maxMs: 3 },
    generatorLoop: { p50Ms: 1, p99Ms: 4, maxMs: 9 },
    benchLoop: { p50Ms: 1, p99Ms: 3, maxMs: 9 },
  });
  const run = (
    max: number,
    limitedBy: CapacityResult['limitedBy'],
    levels: CapacityLevel[],
  ): CapacityResult => ({
    levels,
    maxSessions: max,
    limitedBy,
    stoppedBy: '',
    idleRssMiB: 500,
    generators: 2,
  });

  it('gives the median and min–max of each figure at the fixed level', () => {
    expect(spread([3, null, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3 });
    const c = summarizeCapacity(
      [
        run(4, 'agent', [level(1, 9, 'pass'), level(4, 6, 'pass'), level(8, 5, 'agent-limited')]),
        run(1, 'generator', [level(1, 9, 'pass'), level(4, 8, 'generator-limited')]),
        run(8, null, [level(1, 9, 'pass'), level(4, 7, 'pass'), level(8, 5, 'pass')]),
      ],
      4,
    )!;
    expect(c.maxSessions).toMatchObject({ n: 3, median: 4, min: 1, max: 8 });
    expect(c.endedBy).toEqual({ agent: 1, generator: 1, none: 1 });
    expect(c.cpuSecondsPerSessionMinute).toMatchObject({ median: 7, min: 6, max: 8 });
    expect(c.sessionsPerCore.median).toBe(8.6);
    expect(c.verdicts).toEqual(['pass', 'generator-limited', 'pass']);
    expect(c.generatorLateFramePct.median).toBe(0.5);
  });
});
