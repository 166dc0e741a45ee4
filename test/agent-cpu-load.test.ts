import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuSampler } from '../agent/ops/cpu-load.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake cgroup mount with the given files. */
function cgroup(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('worker CPU load', () => {
  it('cgroup v2 with a quota: the container’s use of its limit, not of the node', () => {
    const root = cgroup({ 'cpu.max': '50000 100000\n', 'cpu.stat': 'usage_usec 1000000\nuser_usec 1\n' });
    let t = 0;
    const sample = cpuSampler({ cgroupRoot: root, now: () => t });
    expect(sample.kind).toBe('container');
    // 0.25 CPU-s in 1 s under a 0.5-core limit: half the limit.
    writeFileSync(join(root, 'cpu.stat'), 'usage_usec 1250000\n');
    t = 1000;
    expect(sample()).toBeCloseTo(0.5, 5);
    // Over the limit (throttling lag) reads as full, never more.
    writeFileSync(join(root, 'cpu.stat'), 'usage_usec 2250000\n');
    t = 2000;
    expect(sample()).toBe(1);
  });

  it('cgroup v1 with a quota: cfs quota/period and cpuacct.usage', () => {
    const root = cgroup({
      'cpu/cpu.cfs_quota_us': '200000',
      'cpu/cpu.cfs_period_us': '100000',
      'cpuacct/cpuacct.usage': '5000000000',
    });
    let t = 0;
    const sample = cpuSampler({ cgroupRoot: root, now: () => t });
    expect(sample.kind).toBe('container');
    writeFileSync(join(root, 'cpuacct/cpuacct.usage'), '6000000000'); // 1 CPU-s in 2 s on 2 cores
    t = 2000;
    expect(sample()).toBeCloseTo(0.25, 5);
  });

  it('no limit (cpu.max "max", v1 quota -1, or no cgroup files): the whole machine', () => {
    const cases: Record<string, string>[] = [
      { 'cpu.max': 'max 100000', 'cpu.stat': 'usage_usec 1' },
      { 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000', 'cpuacct/cpuacct.usage': '1' },
      {},
    ];
    for (const files of cases) {
      const sample = cpuSampler({ cgroupRoot: cgroup(files) });
      expect(sample.kind).toBe('machine');
      const v = sample();
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
  });
});
