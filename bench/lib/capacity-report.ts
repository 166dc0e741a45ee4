/**
 * One side's capacity figures over repeated runs (`--repeat N`): for each figure the median and
 * min–max over the runs, the load generator's lateness beside them, and the lines printed under the
 * table.
 */
import type { CapacityLevel, CapacityResult } from './capacity.ts';
import { type Spread, spread, summarize } from './stats.ts';

/** Other programs' CPU beyond this (% of a core) makes a run's capacity figures not comparable. */
export const OTHER_LOAD_WARN_PCT = 10;

export interface CapacitySummary {
  runs: number;
  /** The level the per-session figures are taken at. */
  cpuLevel: number;
  /** Largest level passed before the first that did not, per run. */
  maxSessions: Spread;
  /** How the runs' ramps ended: by the agent, by the bench (generator-limited), or all levels passed. */
  endedBy: { agent: number; generator: number; none: number };
  /** At `cpuLevel`: */
  cpuSecondsPerSessionMinute: Spread;
  /** Sessions one fully used core carries at that cost (60 / CPU-s per session-minute). */
  sessionsPerCore: Spread;
  rssPerSessionMiB: Spread;
  roundTripP95Ms: Spread;
  repliesWithGapsPct: Spread;
  /** The level's verdict in each run. */
  verdicts: string[];
  /** The bench beside it at `cpuLevel`: the users' late or dropped frames, event-loop delays, other load. */
  generatorLateFramePct: Spread;
  generatorLoopP99Ms: Spread;
  devServerLoopP99Ms: Spread;
  benchLoopP99Ms: Spread;
  otherCpuPercent: Spread;
  /** Per run: the ramp and every level (round trips summarised). */
  detail: {
    maxSessions: number;
    limitedBy: CapacityResult['limitedBy'];
    stoppedBy: string;
    idleRssMiB: number;
    levels: (Omit<CapacityLevel, 'roundTrip'> & { roundTrip: ReturnType<typeof summarize> })[];
  }[];
}

export function summarizeCapacity(runs: readonly CapacityResult[], cpuLevel: number): CapacitySummary | null {
  if (!runs.length) return null;
  const at = runs.map((r) => r.levels.find((l) => l.target === cpuLevel));
  const of = (f: (l: CapacityLevel) => number | null | undefined, digits = 2) =>
    spread(
      at.map((l) => (l ? f(l) : null)),
      digits,
    );
  const count = (k: CapacityResult['limitedBy']) => runs.filter((r) => r.limitedBy === k).length;
  return {
    runs: runs.length,
    cpuLevel,
    maxSessions: spread(runs.map((r) => r.maxSessions)),
    endedBy: { agent: count('agent'), generator: count('generator'), none: count(null) },
    cpuSecondsPerSessionMinute: of((l) => l.cpuSecondsPerSessionMinute),
    sessionsPerCore: of((l) => (l.cpuSecondsPerSessionMinute ? 60 / l.cpuSecondsPerSessionMinute : null), 1),
    rssPerSessionMiB: of((l) => l.rssPerSessionMiB, 1),
    roundTripP95Ms: of((l) => summarize(l.roundTrip).p95, 0),
    repliesWithGapsPct: of((l) => l.repliesWithGapsPct, 0),
    verdicts: at.map((l) => l?.verdict ?? 'not reached'),
    generatorLateFramePct: of((l) => l.generatorFrames.latePct, 1),
    generatorLoopP99Ms: of((l) => l.generatorLoop.p99Ms, 1),
    devServerLoopP99Ms: of((l) => l.devServerLoop?.p99Ms, 1),
    benchLoopP99Ms: of((l) => l.benchLoop.p99Ms, 1),
    otherCpuPercent: of((l) => l.otherCpuPercent, 0),
    detail: runs.map((r) => ({
      maxSessions: r.maxSessions,
      limitedBy: r.limitedBy,
      stoppedBy: r.stoppedBy,
      idleRssMiB: r.idleRssMiB,
      levels: r.levels.map((l) => ({ ...l, roundTrip: summarize(l.roundTrip) })),
    })),
  };
}

/** `median [min–max]`, or the value alone for one run. */
export function showSpread(s: Spread, unit = ''): string {
  if (s.median === null) return '—';
  if (s.n === 1 || s.min === s.max) return `${s.median}${unit}`;
  return `${s.median}${unit} [${s.min}–${s.max}]`;
}

/** The lines printed for one side. */
export function capacityLines(side: string, c: CapacitySummary): string[] {
  const ended = [
    c.endedBy.agent && `${c.endedBy.agent} by the agent`,
    c.endedBy.generator && `${c.endedBy.generator} generator-limited`,
    c.endedBy.none && `${c.endedBy.none} with all levels passed`,
  ].filter(Boolean);
  const lines = [
    `capacity ${side} (${c.runs} run${c.runs > 1 ? 's' : ''}, median [min–max]): max sessions before the agent gives ${showSpread(c.maxSessions)} (ramps ended: ${ended.join(', ')})`,
    `  at ${c.cpuLevel} sessions (${c.verdicts.join(', ')}): ${showSpread(c.cpuSecondsPerSessionMinute)} CPU-s/session-min = ${showSpread(c.sessionsPerCore)} sessions/core; ${showSpread(c.rssPerSessionMiB, ' MiB')} RSS/session; round-trip p95 ${showSpread(c.roundTripP95Ms, ' ms')}; replies with underruns ${showSpread(c.repliesWithGapsPct, '%')}`,
    `  load generator at ${c.cpuLevel}: frames late or dropped ${showSpread(c.generatorLateFramePct, '%')}, event-loop p99 ${showSpread(c.generatorLoopP99Ms, ' ms')}; dev server loop p99 ${showSpread(c.devServerLoopP99Ms, ' ms')}; bench loop p99 ${showSpread(c.benchLoopP99Ms, ' ms')}; other programs ${showSpread(c.otherCpuPercent, '% of a core')}`,
  ];
  const other = c.otherCpuPercent.max ?? 0;
  if (other > OTHER_LOAD_WARN_PCT)
    lines.push(
      `  WARNING: other programs used up to ${other}% of a core during the windows: the machine was not idle, these figures do not reproduce`,
    );
  for (const [i, r] of c.detail.entries())
    lines.push(
      `  run ${i + 1}: ${r.maxSessions} sessions passed; ${r.stoppedBy}; ${r.levels.map((l) => `${l.sessions}: ${l.verdict}`).join(', ')}`,
    );
  return lines;
}
