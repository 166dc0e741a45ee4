import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOAD_DIR_ENV } from '../config/env.ts';
import { processAlive } from './process-alive.ts';

/**
 * The channel between the worker and its job processes: a directory (`AGENT_LOAD_DIR`) and the three
 * things that travel through it. This module alone knows its files.
 *
 * - session counts, job → worker: `<pid>` holds the Live sessions open in that job process (load);
 * - metrics snapshots, job → worker: `<pid>.metrics.json` holds its job metrics (`/metrics`);
 * - the drain notice, worker → jobs: `drain` holds a {@link DrainNotice} once SIGTERM started a drain;
 * - job records, job → worker: `job-<jobId>.json` holds a {@link JobRecord} while a job runs in its
 *   room; the job deletes it when it ends, so one left behind by a dead process marks a crash
 *   (agent/recovery/).
 *
 * Files, not IPC: the agents framework owns the job-process channel and forks the processes itself
 * (which also ignore SIGTERM). Every file is replaced by a rename or holds a single number, so a reader
 * never sees half of one; the files of a process that has exited tell the worker it is gone.
 */

/** Worker side: the directory (`configured`, else a new one for this worker under the temp dir). */
export interface WorkerChannel {
  dir: string;
  /** The worker made it, so it removes it on exit. */
  own: boolean;
}

/** The directory a worker makes for itself when `AGENT_LOAD_DIR` is unset. */
export function defaultChannelDir(workerPid: number): string {
  return join(tmpdir(), `gemini-agent-load-${workerPid}`);
}

/** Worker side: creates the directory and exports its path to the job processes it forks. */
export function openChannel(configured: string | undefined): WorkerChannel {
  const dir = configured ?? defaultChannelDir(process.pid);
  // What a worker before this one left — it was killed, or had this pid (pids wrap at 32,768 on many
  // machines) — is not ours: its drain notice would drain our jobs, and its job records, whose
  // processes are gone, would read as our crashes and bring agents into rooms nobody asked for.
  if (configured === undefined) rmSync(dir, { recursive: true, force: true });
  else clearStale(dir);
  mkdirSync(dir, { recursive: true });
  // The framework forks job processes with this environment; they read it in config/env.ts.
  process.env[LOAD_DIR_ENV] = dir;
  return { dir, own: configured === undefined };
}

/** A configured directory outlives workers: the drain notice and job records of the one before go. */
function clearStale(dir: string): void {
  for (const name of list(dir)) {
    if (name === DRAIN_FILE || (name.startsWith(JOB_PREFIX) && name.endsWith(JOB_SUFFIX)))
      rmSync(join(dir, name), { force: true });
  }
}

/** Worker side: deletes the directory (one the worker made itself, when it exits). */
export function removeChannel(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// --- session counts --------------------------------------------------------------------------------

const counts = new Map<string, number>();

/** Job side: reports this process's Live sessions for one job (best effort). */
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
  for (const name of list(dir)) {
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

// --- metrics snapshots -----------------------------------------------------------------------------

const SNAPSHOT_SUFFIX = '.metrics.json';

/**
 * Job side: writes this process's snapshot to `<dir>/<pid>.metrics.json` every `intervalMs` (default 5 s,
 * a scrape interval's worth of staleness) and on {@link SnapshotWriter.flush}, skipping writes when
 * nothing changed. Best effort: metrics never break a conversation.
 */
export class SnapshotWriter {
  readonly #source: { snapshot(): Promise<unknown> };
  readonly #file: string;
  readonly #tmp: string;
  readonly #timer: NodeJS.Timeout;
  #writing: Promise<void> = Promise.resolve();
  #last = '';

  constructor(source: { snapshot(): Promise<unknown> }, dir: string, intervalMs = 5000) {
    this.#source = source;
    this.#file = join(dir, `${process.pid}${SNAPSHOT_SUFFIX}`);
    this.#tmp = join(dir, `.${process.pid}${SNAPSHOT_SUFFIX}.tmp`);
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref();
  }

  /** Writes the current snapshot (serialised with earlier writes). */
  flush(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      try {
        const json = JSON.stringify(await this.#source.snapshot());
        if (json === this.#last) return;
        writeFileSync(this.#tmp, json);
        renameSync(this.#tmp, this.#file);
        this.#last = json;
      } catch {
        // The directory may be gone (worker exited); nothing to report to.
      }
    });
    return this.#writing;
  }

  /** Final snapshot; the worker keeps its counters once this process is gone. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}

/**
 * Worker side: the snapshots of running job processes, and those of exited ones, whose files are
 * deleted as they are read (the caller keeps what it needs of them: each is returned once).
 */
export function readSnapshots<T>(dir: string): { running: T[]; exited: T[] } {
  const running: T[] = [];
  const exited: T[] = [];
  const pidOf = (name: string) => Number(name.slice(0, -SNAPSHOT_SUFFIX.length));
  const files = readJsonFiles<T>(
    dir,
    (name) => name.endsWith(SNAPSHOT_SUFFIX) && !name.startsWith('.') && Number.isInteger(pidOf(name)),
  );
  for (const { name, path, value } of files) {
    if (processAlive(pidOf(name))) {
      running.push(value);
    } else {
      exited.push(value);
      rmSync(path, { force: true });
    }
  }
  return { running, exited };
}

// --- drain notice ----------------------------------------------------------------------------------

const DRAIN_FILE = 'drain';

export interface DrainNotice {
  /** Epoch ms the drain started. */
  startedAt: number;
  /** Epoch ms after which conversations end at their next turn boundary. */
  wrapUpAt: number;
  /** Epoch ms at which the framework stops waiting and closes every job. */
  deadline: number;
}

/** Worker side: writes the notice (atomically) and returns it. */
export function publishDrain(
  dir: string,
  o: { timeoutMs: number; wrapUpMs: number },
  now = Date.now(),
): DrainNotice {
  const deadline = now + o.timeoutMs;
  // Keep a little of the deadline for the last turn even when wrap-up ≥ timeout.
  const notice: DrainNotice = { startedAt: now, wrapUpAt: Math.max(now, deadline - o.wrapUpMs), deadline };
  const tmp = join(dir, `.${DRAIN_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(notice));
  renameSync(tmp, join(dir, DRAIN_FILE));
  return notice;
}

/** Worker side, at start: a notice left by an earlier worker that shared the directory would drain this one at once. */
export function clearDrain(dir: string): void {
  rmSync(join(dir, DRAIN_FILE), { force: true });
}

/** Job side: the notice, if the worker is draining. */
export function readDrain(dir: string | undefined): DrainNotice | undefined {
  if (!dir) return undefined;
  try {
    const v = JSON.parse(readFileSync(join(dir, DRAIN_FILE), 'utf8')) as Partial<DrainNotice>;
    if (typeof v.wrapUpAt === 'number' && typeof v.deadline === 'number' && typeof v.startedAt === 'number')
      return v as DrainNotice;
  } catch {
    // No drain (or a notice being replaced).
  }
  return undefined;
}

// --- job records -----------------------------------------------------------------------------------

const JOB_PREFIX = 'job-';
const JOB_SUFFIX = '.json';

/** What the worker needs to bring a job back whose process died (agent/recovery/local.ts). */
export interface JobRecord {
  jobId: string;
  /** The job process. */
  pid: number;
  room: string;
  agentName: string;
  /** The agent participant's identity: it lingers in the room after its process died. */
  identity: string;
  /** The dispatch metadata the job was configured with (a recovery's original one, unsealed). */
  metadata: string;
  /** Recovery dispatches that led to this job (0: the first job in the room). */
  attempt: number;
}

function jobFile(dir: string, jobId: string): string {
  // Job ids are server-chosen (`AJ_…`); nothing else may reach the path.
  return join(dir, `${JOB_PREFIX}${jobId.replace(/[^\w-]/g, '_')}${JOB_SUFFIX}`);
}

/** Job side: records the running job (best effort, atomically). */
export function writeJobRecord(dir: string | undefined, r: JobRecord): void {
  if (!dir) return;
  const file = jobFile(dir, r.jobId);
  const tmp = `${file}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(r));
    renameSync(tmp, file);
  } catch {
    // Without a record a crash of this job is not recovered by its worker; the job itself runs on.
  }
}

/** Job side: the job ended in an orderly way (whatever the reason): nothing to recover. */
export function removeJobRecord(dir: string | undefined, jobId: string): void {
  if (dir) rmSync(jobFile(dir, jobId), { force: true });
}

/** The job records in the directory (`dead`: only those whose process has exited, each deleted as read). */
export function readJobRecords(dir: string, o: { dead?: boolean } = {}): JobRecord[] {
  const out: JobRecord[] = [];
  const files = readJsonFiles<JobRecord>(
    dir,
    (name) => name.startsWith(JOB_PREFIX) && name.endsWith(JOB_SUFFIX),
  );
  for (const { path, value: r } of files) {
    if (!Number.isInteger(r.pid) || typeof r.room !== 'string' || typeof r.jobId !== 'string') continue;
    if (o.dead) {
      if (processAlive(r.pid)) continue;
      rmSync(path, { force: true });
    }
    out.push(r);
  }
  return out;
}

// --- reading the directory -------------------------------------------------------------------------

/** The names in the directory; none while it does not exist (yet, or any more). */
function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

interface JsonFile<T> {
  name: string;
  path: string;
  value: T;
}

/**
 * The files in the directory whose names `match`, parsed as JSON (`value` unchecked: the caller's type).
 * A file that vanished since the listing, or does not parse, is skipped.
 */
function readJsonFiles<T>(dir: string, match: (name: string) => boolean): JsonFile<T>[] {
  const out: JsonFile<T>[] = [];
  for (const name of list(dir)) {
    if (!match(name)) continue;
    const path = join(dir, name);
    try {
      out.push({ name, path, value: JSON.parse(readFileSync(path, 'utf8')) as T });
    } catch {
      // Deleted since the listing (its process ended, or another reader took it), or not JSON.
    }
  }
  return out;
}
