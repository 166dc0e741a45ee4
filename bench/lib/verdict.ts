/**
 * Whether a capacity level passed, and if not, whose limit it hit: the agent's, or the bench's own (the
 * load generator, the dev server, the emulator and tap in the bench process). A level where the bench
 * fell behind says nothing about the agent: its round trips are timestamped by a late event loop, its
 * users' speech reached the room late or with holes, so it is reported as bench-limited and not
 * charged to the agent, whatever the agent's figures were.
 */
import type { FrameLatenessSummary, LoopDelay } from './lateness.ts';

/** Beyond these the bench is the limit (README: "How it measures"). */
export const BENCH_BOUNDS = {
  /** Event-loop delay p99 of any bench process (generator, dev server, bench), ms. */
  loopP99Ms: 50,
  /** Share of the simulated users' frames captured > 20 ms late or dropped, %. */
  lateFramePct: 1,
};

/** The agent gives when… (all relative to the first level, one session). */
export const AGENT_BOUNDS = {
  /** Round-trip p95 above this multiple of the first level's. */
  roundTripP95Factor: 2,
  /** Share of replies with underruns this many points above the first level's. */
  gapSharePoints: 10,
};

export interface LevelFigures {
  joinFailures: number;
  missedReplies: number;
  /** Round-trip p95 at this level and the first level's, ms. */
  roundTripP95: number | null;
  baselineP95: number | undefined;
  /** Share of replies with underruns (0..1) at this level and the first level's. */
  gapShare: number;
  baselineGapShare: number | undefined;
  generatorFrames: FrameLatenessSummary;
  generatorLoop: LoopDelay;
  devServerLoop?: LoopDelay;
  benchLoop?: LoopDelay;
}

export type Verdict = 'pass' | 'agent-limited' | 'generator-limited';

export interface LevelVerdict {
  verdict: Verdict;
  /** What the agent's figures failed (listed even when the bench was the limit). */
  agentReasons: string[];
  /** Where the bench itself fell behind. */
  benchReasons: string[];
}

export function judgeLevel(f: LevelFigures): LevelVerdict {
  const bench: string[] = [];
  const loop = (name: string, d: LoopDelay | undefined) => {
    if (d && d.p99Ms > BENCH_BOUNDS.loopP99Ms)
      bench.push(`${name} event-loop delay p99 ${d.p99Ms} ms > ${BENCH_BOUNDS.loopP99Ms} ms`);
  };
  if (f.generatorFrames.latePct > BENCH_BOUNDS.lateFramePct)
    bench.push(
      `load generator: ${f.generatorFrames.latePct}% of user frames late or dropped > ${BENCH_BOUNDS.lateFramePct}%`,
    );
  loop('load generator', f.generatorLoop);
  loop('dev server', f.devServerLoop);
  loop('bench (emulator, tap)', f.benchLoop);

  const agent: string[] = [];
  if (f.joinFailures) agent.push(`${f.joinFailures} agents failed to join`);
  if (f.missedReplies) agent.push(`${f.missedReplies} replies missing`);
  if (f.baselineGapShare !== undefined && f.gapShare > f.baselineGapShare + AGENT_BOUNDS.gapSharePoints / 100)
    agent.push(`${Math.round(f.gapShare * 100)}% of replies with underruns`);
  if (
    f.roundTripP95 !== null &&
    f.baselineP95 !== undefined &&
    f.roundTripP95 > AGENT_BOUNDS.roundTripP95Factor * f.baselineP95
  )
    agent.push(
      `round-trip p95 ${f.roundTripP95.toFixed(0)} ms > ${AGENT_BOUNDS.roundTripP95Factor}× ${f.baselineP95.toFixed(0)} ms`,
    );
  const verdict: Verdict = bench.length ? 'generator-limited' : agent.length ? 'agent-limited' : 'pass';
  return { verdict, agentReasons: agent, benchReasons: bench };
}
