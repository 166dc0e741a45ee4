import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** Options of {@link cpuSampler}. */
export interface CpuSamplerOptions {
  /** Where the cgroup filesystem is mounted (default `/sys/fs/cgroup`). */
  cgroupRoot?: string;
  /** Wall clock in ms (default `performance.now`); tests pass their own. */
  now?: () => number;
}

/** CPU time used so far (seconds) and how many cores' worth may be used. */
interface CpuSource {
  /** `container` when a CPU limit (quota) applies to this process's cgroup. */
  kind: 'container' | 'machine';
  cores: number;
  usedSeconds(): number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** cgroup v2: `cpu.max` is `<quota> <period>` or `max <period>`; usage is `usage_usec` in `cpu.stat`. */
function cgroupV2(root: string): CpuSource | undefined {
  const [quota, period] = (read(join(root, 'cpu.max')) ?? '').split(/\s+/);
  if (!quota || quota === 'max' || !Number(period)) return undefined;
  const usage = () => Number(/usage_usec (\d+)/.exec(read(join(root, 'cpu.stat')) ?? '')?.[1] ?? Number.NaN);
  if (!Number.isFinite(usage())) return undefined;
  return { kind: 'container', cores: Number(quota) / Number(period), usedSeconds: () => usage() / 1e6 };
}

/** cgroup v1: `cpu.cfs_quota_us` (-1: none) / `cpu.cfs_period_us`; usage in ns in `cpuacct.usage`. */
function cgroupV1(root: string): CpuSource | undefined {
  const quota = Number(read(join(root, 'cpu', 'cpu.cfs_quota_us')) ?? -1);
  const period = Number(read(join(root, 'cpu', 'cpu.cfs_period_us')) ?? 0);
  if (!(quota > 0 && period > 0)) return undefined;
  const usage = () => Number(read(join(root, 'cpuacct', 'cpuacct.usage')) ?? Number.NaN);
  if (!Number.isFinite(usage())) return undefined;
  return { kind: 'container', cores: quota / period, usedSeconds: () => usage() / 1e9 };
}

/** No CPU limit: the machine's busy time over all its cores, from `os.cpus()`. */
function machine(): CpuSource {
  return {
    kind: 'machine',
    cores: cpus().length,
    usedSeconds: () => {
      let busy = 0;
      for (const c of cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
      return busy / 1000;
    },
  };
}

/**
 * CPU use over the interval since the previous call, 0–1. Under a container CPU limit (a cgroup quota,
 * e.g. Kubernetes `resources.limits.cpu`) it is the container's use of its quota — the node's idle
 * cores do not count, the limit does. Without a limit it is the whole machine's use of its cores.
 */
export function cpuSampler(o: CpuSamplerOptions = {}): (() => number) & { kind: CpuSource['kind'] } {
  const root = o.cgroupRoot ?? '/sys/fs/cgroup';
  const now = o.now ?? (() => performance.now());
  const source = cgroupV2(root) ?? cgroupV1(root) ?? machine();
  let lastUsed = source.usedSeconds();
  let lastAt = now();
  const sample = () => {
    const used = source.usedSeconds();
    const at = now();
    const wall = (at - lastAt) / 1000;
    const share = wall > 0 ? (used - lastUsed) / wall / source.cores : 0;
    lastUsed = used;
    lastAt = at;
    return Math.min(1, Math.max(0, share));
  };
  return Object.assign(sample, { kind: source.kind });
}
