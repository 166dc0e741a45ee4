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
}

function statOf(pid: number): { ppid: number; cpu: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces).
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { ppid, cpu: (utime + stime) / TICKS };
  } catch {
    return undefined;
  }
}

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
  for (const pid of pids) {
    cpuSeconds += statOf(pid)?.cpu ?? 0;
    rssMiB += rssOf(pid);
  }
  return { pids, cpuSeconds, rssMiB };
}
