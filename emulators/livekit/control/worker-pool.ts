import type { JobType } from '@livekit/protocol';
import type { WorkerConnection } from './worker-connection.ts';

/** Load a job is assumed to add until some worker's report says otherwise. */
const DEFAULT_JOB_LOAD = 0.05;

interface WorkerLoad {
  /** Jobs this worker ran when it last reported its load. */
  jobsAtReport: number;
  /** Jobs given to it since that report (its load does not show them yet). */
  assignedSinceReport: number;
  /** Offers waiting for an answer. */
  offering: number;
}

/** What a job asks of a worker. */
export interface JobCandidacy {
  agentName: string;
  type: JobType;
  /** Workers that declined or did not answer. */
  tried: ReadonlySet<string>;
  /** `simulateJob`: the job belongs to the worker that asked for it. */
  onlyWorker: WorkerConnection | undefined;
}

/** An offer under way to one worker, counted in its load. */
export interface PendingOffer {
  /** The worker answered (or the offer timed out): no longer counted as an offer. */
  answered(): void;
  /** The job was assigned to it: counted until its next load report. */
  assigned(): void;
}

/**
 * The registered workers and their load as the dispatcher sees it between their reports, and the
 * choice of a worker for a job: the least-loaded AVAILABLE one for its agent name that has not
 * turned it down.
 */
export class WorkerPool {
  readonly #workers = new Map<WorkerConnection, WorkerLoad>();
  /** Jobs assigned to a worker and running there. */
  readonly #jobsOf: (w: WorkerConnection) => number;

  constructor(jobsOf: (w: WorkerConnection) => number) {
    this.#jobsOf = jobsOf;
  }

  register(w: WorkerConnection): void {
    this.#workers.set(w, { jobsAtReport: 0, assignedSinceReport: 0, offering: 0 });
  }

  /** A registered worker reported its load; false when it is not registered. */
  reported(w: WorkerConnection): boolean {
    const load = this.#workers.get(w);
    if (!load) return false;
    load.jobsAtReport = this.#jobsOf(w);
    load.assignedSinceReport = 0;
    return true;
  }

  remove(w: WorkerConnection): void {
    this.#workers.delete(w);
  }

  /** Closes every worker socket and forgets them. */
  closeAll(): void {
    for (const w of [...this.#workers.keys()]) w.close();
    this.#workers.clear();
  }

  /** Counts an offer to `w` (one {@link pick} returned) in its load. */
  beginOffer(w: WorkerConnection): PendingOffer {
    const load = this.#workers.get(w)!;
    load.offering++;
    return {
      answered: () => {
        load.offering--;
      },
      assigned: () => {
        load.assignedSinceReport++;
      },
    };
  }

  /** Least-loaded AVAILABLE worker for the job's agent name that has not turned it down. */
  pick(j: JobCandidacy): WorkerConnection | undefined {
    let best: WorkerConnection | undefined;
    let bestKey: [number, number, number] | undefined;
    const fleetPerJob = this.#fleetLoadPerJob();
    for (const [w, load] of this.#workers) {
      if (!w.available || w.agentName !== j.agentName || j.tried.has(w.id)) continue;
      if (j.onlyWorker ? w !== j.onlyWorker : w.jobType !== j.type) continue;
      const jobs = this.#jobsOf(w);
      const perJob = load.jobsAtReport > 0 && w.load > 0 ? w.load / load.jobsAtReport : fleetPerJob;
      // Reports lag (every ~2.5 s, and a job counts only once its process runs): add what was given
      // out since, and never rate a worker below what its known jobs cost.
      const key: [number, number, number] = [
        Math.max(
          w.load + (load.assignedSinceReport + load.offering) * perJob,
          (jobs + load.offering) * perJob,
        ),
        jobs + load.offering,
        w.seq,
      ];
      if (!bestKey || compare(key, bestKey) < 0) {
        best = w;
        bestKey = key;
      }
    }
    return best;
  }

  /**
   * Load one job adds, learned from workers' reports (reported load / jobs then running); used for
   * workers that have not reported with a job yet, so that a fresh worker is not flooded.
   */
  #fleetLoadPerJob(): number {
    let sum = 0;
    let n = 0;
    for (const [w, load] of this.#workers) {
      if (load.jobsAtReport > 0 && w.load > 0) {
        sum += w.load / load.jobsAtReport;
        n++;
      }
    }
    return n ? sum / n : DEFAULT_JOB_LOAD;
  }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
