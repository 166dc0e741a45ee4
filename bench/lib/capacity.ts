/**
 * The capacity phase: rooms added in levels against one side's worker, a measuring window per level,
 * and the bench's own lateness beside the agent's figures (see verdict.ts for who is charged).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type FrameLatenessSummary, type LoopDelay, LoopMonitor, summarizeLateness } from './lateness.ts';
import { GeneratorPool } from './loadgen-process.ts';
import { type PhaseContext, phaseEmulator, SHORT_REPLY, sayLoop } from './phases.ts';
import {
  cpuBetween,
  machineBusySeconds,
  type ProcSample,
  sampleTree,
  threadCpu,
  threadShares,
} from './proc.ts';
import { now, percentile } from './stats.ts';
import { judgeLevel, type LevelVerdict } from './verdict.ts';

export interface CapacityOptions {
  levels: number[];
  windowSeconds: number;
  /**
   * The level whose CPU and memory per session are the side's figures. The ramp goes on to it even
   * after a level failed, and stops at the first level at or above it that did not pass.
   */
  cpuLevel: number;
  /** Load-generator processes (0: the simulated users run in the bench process). */
  generators: number;
}

export interface CapacityLevel extends LevelVerdict {
  /** Sessions asked for, and sessions running. */
  target: number;
  sessions: number;
  /** Sessions whose agent never joined or answered. */
  joinFailures: number;
  /** Turns in the window, turns without a reply within 10 s. */
  turns: number;
  missedReplies: number;
  /** User end of speech → first agent audio at the user, ms. */
  roundTrip: number[];
  underruns: number;
  /** Share of replies in the window with at least one underrun, %. */
  repliesWithGapsPct: number;
  cpuSecondsPerSessionMinute: number | null;
  /** % of one core: the worker tree, dev server, bench process (emulator, tap), generator processes. */
  workerCpuPercent: number;
  devServerCpuPercent: number;
  benchCpuPercent: number;
  generatorCpuPercent: number;
  /** The machine's busy time not spent by any of the above (other programs), % of one core. */
  otherCpuPercent: number;
  workerRssMiB: number;
  rssPerSessionMiB: number | null;
  /** The simulated users' frame lateness and the generator processes' worst event-loop delay. */
  generatorFrames: FrameLatenessSummary;
  generatorLoop: LoopDelay;
  devServerLoop?: LoopDelay;
  benchLoop: LoopDelay;
  /**
   * % of one core per session by thread name, over the worker tree's processes that lived through the
   * whole window (job processes: JavaScript `MainThread`, V8 helpers, rtc-node's native threads).
   */
  threadsPerSessionPct?: Record<string, number>;
}

export interface CapacityResult {
  levels: CapacityLevel[];
  /** Largest level that passed before the first level that did not (0: none). */
  maxSessions: number;
  /** Who ended the ramp: the agent, the bench (generator-limited), or nobody (all levels passed). */
  limitedBy: 'agent' | 'generator' | null;
  /** Why the ramp stopped. */
  stoppedBy: string;
  idleRssMiB: number;
  generators: number;
}

const sumCpu = (a: ProcSample[], b: ProcSample[]) => a.reduce((s, x, i) => s + cpuBetween(x, b[i]!), 0);

export async function runCapacity(ctx: PhaseContext, o: CapacityOptions): Promise<CapacityResult> {
  const emulator = await phaseEmulator(ctx, { scenario: sayLoop(SHORT_REPLY), pacing: 'realtime' });
  ctx.tap.inspect = false;
  const pool = await GeneratorPool.start(o.generators, {
    livekit: ctx.livekit,
    agentName: ctx.agentName,
    prefix: `cap-${ctx.side}`,
  });
  const benchLoop = new LoopMonitor();
  const idle = sampleTree(ctx.worker.pid);
  const result: CapacityResult = {
    levels: [],
    maxSessions: 0,
    limitedBy: null,
    stoppedBy: 'all levels passed',
    idleRssMiB: Math.round(idle.rssMiB),
    generators: o.generators,
  };
  let lagSeq = 0;
  const devServerLag = async (): Promise<LoopDelay | undefined> => {
    const n = ++lagSeq;
    try {
      const m = await ctx.devServer.ask(`lag ${n}`, new RegExp(`^(\\{"lag":${n},.*\\})$`, 'm'));
      const { p50Ms, p99Ms, maxMs } = JSON.parse(m[1]!) as LoopDelay;
      return { p50Ms, p99Ms, maxMs };
    } catch {
      return undefined; // a dev server without the question channel (LIVEKIT_URL elsewhere)
    }
  };
  let baselineP95: number | undefined;
  let baselineGapShare: number | undefined;
  let failedBefore: string | undefined;
  try {
    for (const target of o.levels) {
      let joinFailures = 0;
      // Two joins at a time: each one makes the worker start a job process, which is slow on a
      // loaded 2-core machine; all at once they would time out together.
      const todo = target - pool.users;
      let started = 0;
      const joinOne = async (): Promise<void> => {
        while (started < todo) {
          started++;
          try {
            await pool.addUser();
          } catch (err) {
            joinFailures++;
            ctx.log(`${ctx.side}: capacity join failed: ${(err as Error).message}`);
          }
        }
      };
      await Promise.all([joinOne(), joinOne()]);
      await sleep(2000); // let the new sessions settle into their first turns
      await devServerLag(); // resets its monitor
      await pool.windowStart();
      benchLoop.reset();
      const gens0 = pool.pids.map((p) => sampleTree(p));
      const w0 = sampleTree(ctx.worker.pid);
      const th0 = threadCpu(w0.pids);
      const d0 = sampleTree(ctx.devServer.pid);
      const b0 = process.cpuUsage();
      const m0 = machineBusySeconds();
      const t0 = now();
      await sleep(o.windowSeconds * 1000);
      const t1 = now();
      const m1 = machineBusySeconds();
      const b1 = process.cpuUsage(b0);
      const w1 = sampleTree(ctx.worker.pid);
      const th1 = threadCpu(w1.pids);
      const d1 = sampleTree(ctx.devServer.pid);
      const gens1 = pool.pids.map((p) => sampleTree(p));
      const bench = benchLoop.read();
      const win = await pool.windowEnd();
      const devLoop = await devServerLag();
      const dt = (t1 - t0) / 1000;
      const pct = (cpuSeconds: number) => Math.round((cpuSeconds / dt) * 100);
      const rts = win.records.filter((r) => r.rt !== undefined).map((r) => r.rt!);
      const n = pool.users;
      const workerCpu = cpuBetween(w0, w1);
      const devCpu = cpuBetween(d0, d1);
      const benchCpu = (b1.user + b1.system) / 1e6;
      const genCpu = sumCpu(gens0, gens1);
      const turns = win.records.length;
      const gapShare = turns ? win.records.filter((r) => r.gaps > 0).length / turns : 0;
      const p95 = percentile(rts, 0.95);
      const generatorFrames = summarizeLateness(win.lateness);
      baselineP95 ??= p95 ?? undefined;
      baselineGapShare ??= gapShare;
      const missedReplies = win.records.filter((r) => r.missed).length;
      const lvl: CapacityLevel = {
        target,
        sessions: n,
        joinFailures,
        turns,
        missedReplies,
        roundTrip: rts,
        underruns: win.records.reduce((a, r) => a + r.gaps, 0),
        repliesWithGapsPct: Math.round(gapShare * 100),
        cpuSecondsPerSessionMinute: n ? Math.round((workerCpu / (n * (dt / 60))) * 100) / 100 : null,
        workerCpuPercent: pct(workerCpu),
        devServerCpuPercent: pct(devCpu),
        benchCpuPercent: pct(benchCpu),
        generatorCpuPercent: pct(genCpu),
        otherCpuPercent: Math.max(0, pct(m1 - m0 - workerCpu - devCpu - benchCpu - genCpu)),
        workerRssMiB: Math.round(w1.rssMiB),
        rssPerSessionMiB: n ? Math.round(((w1.rssMiB - idle.rssMiB) / n) * 10) / 10 : null,
        generatorFrames,
        generatorLoop: win.loop,
        ...(devLoop && { devServerLoop: devLoop }),
        benchLoop: bench,
        threadsPerSessionPct: n ? threadShares(th0, th1, dt, n) : undefined,
        ...judgeLevel({
          joinFailures,
          missedReplies,
          roundTripP95: p95,
          baselineP95,
          gapShare,
          baselineGapShare,
          generatorFrames,
          generatorLoop: win.loop,
          devServerLoop: devLoop,
          benchLoop: bench,
        }),
      };
      result.levels.push(lvl);
      ctx.log(
        `${ctx.side}: capacity ${n} sessions: ${lvl.verdict}; rt p95 ${p95?.toFixed(0)} ms, turns ${turns}, missed ${missedReplies}, replies with underruns ${lvl.repliesWithGapsPct}%, worker ${lvl.workerCpuPercent}% cpu (${lvl.cpuSecondsPerSessionMinute} CPU-s/session-min); generator frames late ${generatorFrames.latePct}% (p99 ${generatorFrames.p99Ms} ms, max ${generatorFrames.maxMs} ms), loop p99 ${win.loop.p99Ms} ms, ${lvl.generatorCpuPercent}% cpu; dev server ${lvl.devServerCpuPercent}% loop p99 ${devLoop?.p99Ms ?? '—'} ms; bench ${lvl.benchCpuPercent}% loop p99 ${bench.p99Ms} ms; other ${lvl.otherCpuPercent}%`,
      );
      if (lvl.verdict === 'pass') {
        if (!failedBefore) result.maxSessions = n;
      } else {
        const why = lvl.verdict === 'generator-limited' ? lvl.benchReasons : lvl.agentReasons;
        if (!failedBefore) {
          failedBefore = `${n} sessions: ${lvl.verdict}: ${why.join(', ')}`;
          result.limitedBy = lvl.verdict === 'generator-limited' ? 'generator' : 'agent';
          result.stoppedBy = failedBefore;
        }
        if (target >= o.cpuLevel) break;
      }
    }
  } finally {
    ctx.tap.inspect = true;
    benchLoop.close();
    await pool.close();
    await emulator.close();
  }
  return result;
}
