import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOAD_DIR_ENV } from './config/env.ts';
import { cpuSampler } from './ops/cpu-load.ts';
import { processAlive } from './ops/process-alive.ts';

/**
 * Live session counts shared between the worker and its job processes. Each job process writes its
 * count to `<dir>/<pid>`; the worker sums the files of live processes. Files, not IPC: the agents
 * framework owns the job-process channel.
 */

/**
 * The directory for this worker: `configured` (`AGENT_LOAD_DIR`) or a new one under the temp dir;
 * created, and its path exported to the job processes through their environment.
 */
export function ensureLoadDir(configured: string | undefined): string {
  const dir = configured ?? join(tmpdir(), `gemini-agent-load-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  process.env[LOAD_DIR_ENV] = dir;
  return dir;
}

const counts = new Map<string, number>();

/** Job process side: reports this process's sessions for one job into the worker's load directory. */
export function reportSessions(dir: string | undefined, jobId: string, n: number): void {
  if (!dir) return;
  if (n > 0) counts.set(jobId, n);
  else counts.delete(jobId);
  let total = 0;
  for (const c of counts.values()) total += c;
  try {
    writeFileSync(join(dir, String(process.pid)), String(total));
  } catch {
    // Load reporting is best effort.
  }
}

/** Worker side: Live sessions open in all job processes. Stale files of dead processes are removed. */
export function countSessions(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    if (!processAlive(pid)) {
      rmSync(join(dir, name), { force: true });
      continue;
    }
    total += Number(readFileSync(join(dir, name), 'utf8')) || 0;
  }
  return total;
}

/**
 * Worker load: the larger of CPU use (the container's quota when it has one, else the machine; see
 * {@link cpuSampler}) and the share of `maxSessions` in use, so a worker full of idle sessions stops
 * taking jobs as surely as a busy one. `cpu: false` (`AGENT_LOAD_CPU=false`) counts sessions only.
 */
export function loadFunction(
  dir: string,
  maxSessions: number,
  o: { cpu?: boolean } = {},
): () => Promise<number> {
  const cpu = o.cpu === false ? () => 0 : cpuSampler();
  return async () => Math.max(cpu(), Math.min(1, countSessions(dir) / maxSessions));
}
