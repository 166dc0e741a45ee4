/**
 * CPU time and resident memory of a process tree from /proc (Linux): the worker process and the job
 * processes it forks. Figures are cumulative CPU seconds (user + system) and RSS in MiB.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

export interface ProcSample {
  pids: number[];
  cpuSeconds: number;
  rssMiB: number;
  /** Per process: own CPU seconds, and CPU seconds of its exited (reaped) children. */
  byPid: Map<number, { cpu: number; reaped: number }>;
}

/** A `stat` file of a process or thread (`/proc/<pid>/stat`, `/proc/<pid>/task/<tid>/stat`), or undefined once gone. */
function readStat(path: string): { name: string; ppid: number; cpu: number; reaped: number } | undefined {
  try {
    const s = readFileSync(path, 'utf8');
    // The command name is parenthesised and may contain spaces; the fields follow it.
    const close = s.lastIndexOf(')');
    const rest = s.slice(close + 2).split(' ');
    const ticks = (i: number, j: number) => (Number(rest[i]) + Number(rest[j])) / TICKS;
    return {
      name: s.slice(s.indexOf('(') + 1, close),
      ppid: Number(rest[1]),
      cpu: ticks(11, 12), // utime + stime
      reaped: ticks(13, 14), // cutime + cstime
    };
  } catch {
    return undefined;
  }
}

const statOf = (pid: number) => readStat(`/proc/${pid}/stat`);

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** `root` and all its descendants alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = statOf(pid);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds and RSS of `root`'s tree now (CPU of exited children is not counted). */
export function sampleTree(root: number): ProcSample {
  const pids = processTree(root);
  let cpuSeconds = 0;
  let rssMiB = 0;
  const byPid = new Map<number, { cpu: number; reaped: number }>();
  for (const pid of pids) {
    const st = statOf(pid);
    if (st) byPid.set(pid, { cpu: st.cpu, reaped: st.reaped });
    cpuSeconds += st?.cpu ?? 0;
    rssMiB += rssOf(pid);
  }
  return { pids, cpuSeconds, rssMiB, byPid };
}

/**
 * CPU seconds the tree used between two samples, with processes that started or exited in between:
 * a new process counts in full, an exited one through its parent's reaped-children time (minus what
 * it had used before the first sample). Job processes come and go during a capacity window.
 */
export function cpuBetween(a: ProcSample, b: ProcSample): number {
  let total = 0;
  for (const [pid, now] of b.byPid) {
    const before = a.byPid.get(pid);
    total += now.cpu - (before?.cpu ?? 0);
    if (before) total += now.reaped - before.reaped;
  }
  for (const [pid, before] of a.byPid) if (!b.byPid.has(pid)) total -= before.cpu;
  return Math.max(0, total);
}

/** Per process, CPU seconds per thread name (numbered names folded: `tokio-rt-worker`, `V8Worker`…). */
export type ThreadSample = Map<number, Map<string, number>>;

/** Per-thread CPU of `pids` from `/proc/<pid>/task/<tid>/stat`. */
export function threadCpu(pids: number[]): ThreadSample {
  const out: ThreadSample = new Map();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    const byName = new Map<string, number>();
    for (const tid of tids) {
      const st = readStat(`/proc/${pid}/task/${tid}/stat`);
      if (!st) continue; // thread gone
      const name = st.name.replace(/[-_ #]?\d+$/, '').trim();
      byName.set(name, (byName.get(name) ?? 0) + st.cpu);
    }
    out.set(pid, byName);
  }
  return out;
}

/**
 * Per thread name, % of one core per session between two samples, over the processes present in
 * both (a process that started or ended in between is left out); largest first, under 0.05 % omitted.
 */
export function threadShares(
  a: ThreadSample,
  b: ThreadSample,
  seconds: number,
  sessions: number,
): Record<string, number> {
  const totals = new Map<string, number>();
  for (const [pid, after] of b) {
    const before = a.get(pid);
    if (!before) continue;
    for (const [name, cpu] of after)
      totals.set(name, (totals.get(name) ?? 0) + cpu - (before.get(name) ?? 0));
  }
  const rows: [string, number][] = [];
  for (const [name, cpu] of totals) {
    const pct = (cpu / seconds / sessions) * 100;
    if (pct >= 0.05) rows.push([name, Math.round(pct * 100) / 100]);
  }
  return Object.fromEntries(rows.sort((x, y) => y[1] - x[1]));
}

/** Busy CPU seconds of the whole machine, all cores (`/proc/stat`: everything but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user/nice)
  const busy = f.slice(0, 8).reduce((a, v, i) => (i === 3 || i === 4 ? a : a + v), 0);
  return busy / TICKS;
}
