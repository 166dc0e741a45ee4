import {
  AgentDispatch,
  AgentDispatchState,
  Job,
  JobRestartPolicy,
  JobState,
  JobStatus,
  JobType,
} from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import type { ApiKeys } from '../api-keys.ts';
import type { RoomDirectory } from '../room-directory.ts';
import { randomId, type WorkerConnection } from './worker-connection.ts';

/** Load a job is assumed to add until some worker's report says otherwise. */
const DEFAULT_JOB_LOAD = 0.05;
/** Jobs kept per dispatch for ListDispatch (the newest). */
const MAX_JOB_HISTORY = 16;
/** livekit-server's `agent.AgentNameAttributeKey`. */
export const AGENT_NAME_ATTRIBUTE = 'lk.agent_name';
/** Job tokens outlive any dev session; LiveKit issues agent tokens for about an hour as well. */
const JOB_TOKEN_TTL = '1h';

export interface DispatchSpec {
  agentName: string;
  metadata?: string;
  attributes?: Record<string, string>;
  restartPolicy?: JobRestartPolicy;
}

export interface AgentDispatcherOptions {
  directory: RoomDirectory;
  /** API key → secret, to sign job tokens with the pair the worker authenticated with. */
  keys: ApiKeys;
  onWarning?: (msg: string) => void;
  /** A job started running on a worker, or a running job ended (the agent_job_* webhooks). */
  onJob?: (event: 'started' | 'ended', job: Job) => void;
}

type JobPhase = 'queued' | 'offering' | 'assigned' | 'ended';

interface DispatchEntry {
  readonly dispatch: AgentDispatch;
  readonly room: RoomEntry;
  /** The job currently serving this dispatch (the last one launched). */
  current: JobEntry | undefined;
  deleted: boolean;
  /** `simulateJob`: the dispatch belongs to the worker that asked for it. */
  onlyWorker?: WorkerConnection;
}

interface JobEntry {
  readonly job: Job;
  readonly dispatch: DispatchEntry;
  phase: JobPhase;
  worker: WorkerConnection | undefined;
  /** Workers that declined or did not answer; never offered this job again. */
  readonly tried: Set<string>;
  /** `simulateJob`: the job belongs to the worker that asked for it. */
  readonly onlyWorker: WorkerConnection | undefined;
}

interface RoomEntry {
  readonly name: string;
  readonly dispatches: Map<string, DispatchEntry>;
  started: boolean;
}

interface WorkerLoad {
  /** Jobs this worker ran when it last reported its load. */
  jobsAtReport: number;
  /** Jobs given to it since that report (its load does not show them yet). */
  assignedSinceReport: number;
  /** Offers waiting for an answer. */
  offering: number;
}

/**
 * Agent dispatch: keeps each room's dispatches (automatic, token `roomConfig.agents`, CreateRoom
 * agents, CreateDispatch) and their jobs, and places every job on the least-loaded AVAILABLE worker
 * registered for the agent name, retrying elsewhere on decline/timeout. A job that finds no worker
 * waits for one to register or free up. Like livekit-server, a job whose worker disappears is never
 * placed again (see `#onWorkerLost`).
 */
export class AgentDispatcher {
  readonly #directory: RoomDirectory;
  readonly #opts: AgentDispatcherOptions;
  readonly #rooms = new Map<string, RoomEntry>();
  readonly #workers = new Map<WorkerConnection, WorkerLoad>();
  readonly #unsubscribe: (() => void)[];
  #closed = false;

  constructor(opts: AgentDispatcherOptions) {
    this.#opts = opts;
    this.#directory = opts.directory;
    const d = opts.directory;
    this.#unsubscribe = [
      d.on('roomStarted', (room, agents) => this.#onRoomStarted(room.name, agents)),
      d.on('participantJoined', (room, _p, agents) => this.#onParticipantJoined(room.name, agents)),
      d.on('participantLeft', (room, p) => this.#onParticipantLeft(room.name, p.identity)),
      d.on('roomFinished', (room) => this.#onRoomFinished(room.name)),
    ];
  }

  /** Takes over a connected worker socket; it is scheduled once it registers. */
  attachWorker(w: WorkerConnection): void {
    if (this.#closed) {
      w.close();
      return;
    }
    w.on('registered', () => {
      this.#workers.set(w, { jobsAtReport: 0, assignedSinceReport: 0, offering: 0 });
      this.#pump();
    });
    w.on('status', () => {
      const load = this.#workers.get(w);
      if (!load) return;
      load.jobsAtReport = this.#jobsOf(w).length;
      load.assignedSinceReport = 0;
      if (w.available) this.#pump();
    });
    w.on('jobStatus', (jobId, status, error) => this.#onJobStatus(w, jobId, status, error));
    w.on('simulate', (req) => {
      const name = req.room?.name;
      if (!name) return;
      const r = this.#room(name);
      const entry = this.#addDispatch(r, { agentName: w.agentName });
      entry.onlyWorker = w;
      // Starting the room may launch the dispatch already (for this worker only).
      if (!this.#directory.getRoom(name)) this.#directory.ensureRoom(name);
      r.started = true;
      if (!entry.current) this.#launch(entry);
    });
    // livekit-server's Worker.HandleMigrateJob does nothing ("not implemented" on OSS; research §1c):
    // the job stays where it is.
    w.on('migrate', (jobIds) =>
      this.#opts.onWarning?.(
        `worker ${w.id} asked to migrate ${jobIds.length} job(s): ignored, as livekit-server does`,
      ),
    );
    w.on('closed', () => this.#onWorkerLost(w));
  }

  /**
   * Records a dispatch; its job starts as soon as the room is live (at once when it already is).
   * Explicit dispatches known before a room starts replace the automatic one.
   */
  createDispatch(room: string, spec: DispatchSpec): AgentDispatch {
    const r = this.#room(room);
    const entry = this.#addDispatch(r, spec);
    if (r.started || this.#directory.getRoom(room)) {
      r.started = true;
      this.#launch(entry);
    }
    return entry.dispatch;
  }

  listDispatches(room: string, dispatchId?: string): AgentDispatch[] {
    const r = this.#rooms.get(room);
    if (!r) return [];
    return [...r.dispatches.values()]
      .filter((d) => !dispatchId || d.dispatch.id === dispatchId)
      .map((d) => d.dispatch.clone());
  }

  /** Removes a dispatch and terminates its running job; undefined when there is no such dispatch. */
  deleteDispatch(room: string, dispatchId: string): AgentDispatch | undefined {
    const entry = this.#rooms.get(room)?.dispatches.get(dispatchId);
    if (!entry) return undefined;
    entry.deleted = true;
    entry.room.dispatches.delete(dispatchId);
    const j = entry.current;
    if (j && j.phase !== 'ended') {
      if (j.worker && !j.worker.closed) j.worker.terminate(j.job.id);
      this.#endJob(j, JobStatus.JS_SUCCESS, '');
    }
    if (entry.dispatch.state) entry.dispatch.state.deletedAt = BigInt(Date.now()) * 1_000_000n;
    return entry.dispatch.clone();
  }

  /** Closes every worker socket and stops listening to the directory. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    for (const w of [...this.#workers.keys()]) w.close();
    this.#workers.clear();
    this.#rooms.clear();
  }

  // --- room lifecycle -------------------------------------------------------------------------

  #onRoomStarted(name: string, agents: { agentName: string; metadata: string }[]): void {
    const r = this.#room(name);
    r.started = true;
    for (const a of agents) this.#addDispatch(r, { agentName: a.agentName, metadata: a.metadata });
    // A room nobody configured agents for gets the automatic dispatch (workers without a name).
    if (r.dispatches.size === 0) this.#addDispatch(r, { agentName: '' });
    for (const d of r.dispatches.values()) if (!d.current) this.#launch(d);
  }

  #onParticipantJoined(name: string, agents: { agentName: string; metadata: string }[]): void {
    if (!agents.length) return;
    const r = this.#room(name);
    r.started = true;
    const present = new Set([...r.dispatches.values()].map((d) => d.dispatch.agentName));
    for (const a of agents) {
      if (present.has(a.agentName)) continue;
      present.add(a.agentName);
      this.#launch(this.#addDispatch(r, { agentName: a.agentName, metadata: a.metadata }));
    }
  }

  /**
   * livekit-server's `Room.RemoveParticipant` → `TerminateJob(AGENT_LEFT_ROOM)`: the job ends JS_FAILED
   * "agent worker left the room" (agents-js reports no job status, so this is how every agents-js job
   * ends, cleanly or not). A job whose worker is gone is no longer registered anywhere: the RPC finds
   * nobody and its state stays as it was. Unlike livekit-server, no JobTermination goes to the worker
   * (see control/README.md: it races the leave reason a pushed-out agent needs to ask for a rejoin).
   */
  #onParticipantLeft(name: string, identity: string): void {
    const r = this.#rooms.get(name);
    if (!r) return;
    for (const d of r.dispatches.values()) {
      const j = d.current;
      if (j?.phase !== 'assigned' || j.job.state?.participantIdentity !== identity) continue;
      if (!j.worker || j.worker.closed) continue;
      this.#endJob(j, JobStatus.JS_FAILED, 'agent worker left the room');
    }
  }

  #onRoomFinished(name: string): void {
    const r = this.#rooms.get(name);
    if (!r) return;
    this.#rooms.delete(name);
    for (const d of r.dispatches.values()) {
      d.deleted = true;
      const j = d.current;
      if (!j || j.phase === 'ended') continue;
      if (j.worker && !j.worker.closed) j.worker.terminate(j.job.id);
      this.#endJob(j, JobStatus.JS_SUCCESS, '');
    }
  }

  #room(name: string): RoomEntry {
    let r = this.#rooms.get(name);
    if (!r) {
      r = { name, dispatches: new Map(), started: false };
      this.#rooms.set(name, r);
    }
    return r;
  }

  #addDispatch(r: RoomEntry, spec: DispatchSpec): DispatchEntry {
    const dispatch = new AgentDispatch({
      id: `AD_${randomId(12)}`,
      agentName: spec.agentName,
      room: r.name,
      metadata: spec.metadata ?? '',
      attributes: spec.attributes ?? {},
      restartPolicy: spec.restartPolicy ?? JobRestartPolicy.JRP_ON_FAILURE,
      state: new AgentDispatchState({ jobs: [], createdAt: BigInt(Date.now()) * 1_000_000n }),
    });
    const entry: DispatchEntry = { dispatch, room: r, current: undefined, deleted: false };
    r.dispatches.set(dispatch.id, entry);
    return entry;
  }

  // --- jobs -----------------------------------------------------------------------------------

  #launch(d: DispatchEntry): void {
    if (d.deleted || this.#closed) return;
    const onlyWorker = d.onlyWorker;
    const now = BigInt(Date.now());
    const job = new Job({
      id: `AJ_${randomId(12)}`,
      dispatchId: d.dispatch.id,
      type: onlyWorker?.jobType ?? JobType.JT_ROOM,
      room: this.#directory.getRoom(d.room.name),
      agentName: d.dispatch.agentName,
      metadata: d.dispatch.metadata,
      attributes: { ...d.dispatch.attributes },
      state: new JobState({ status: JobStatus.JS_PENDING, updatedAt: now * 1_000_000n }),
    });
    const j: JobEntry = {
      job,
      dispatch: d,
      phase: 'queued',
      worker: undefined,
      tried: new Set(),
      onlyWorker,
    };
    d.current = j;
    const history = d.dispatch.state?.jobs;
    if (history) {
      history.push(job);
      // Bounded: a dispatch whose workers keep dying must not grow without end.
      if (history.length > MAX_JOB_HISTORY) history.splice(0, history.length - MAX_JOB_HISTORY);
    }
    void this.#offer(j);
  }

  /** Starts offering every queued job that now has a candidate worker. */
  #pump(): void {
    for (const r of this.#rooms.values()) {
      for (const d of r.dispatches.values()) {
        const j = d.current;
        if (j && j.phase === 'queued' && this.#pick(j)) void this.#offer(j);
      }
    }
  }

  async #offer(j: JobEntry): Promise<void> {
    if (j.phase === 'offering') return;
    while (j.phase === 'queued' && !j.dispatch.deleted && !this.#closed) {
      const w = this.#pick(j);
      if (!w) return; // stays queued; #pump retries when a worker registers or frees up
      const load = this.#workers.get(w)!;
      j.phase = 'offering';
      load.offering++;
      if (j.job.room === undefined) j.job.room = this.#directory.getRoom(j.dispatch.room.name);
      const answer = await w.requestAvailability(j.job);
      load.offering--;
      if (j.dispatch.deleted || this.#closed) {
        j.phase = 'ended';
        return;
      }
      if (!answer?.available || w.closed) {
        j.tried.add(w.id);
        j.phase = 'queued';
        continue;
      }
      const identity = answer.participantIdentity || `agent-${j.job.id}`;
      let token: string;
      try {
        token = await this.#jobToken(w, j, identity, answer);
      } catch (err) {
        this.#opts.onWarning?.(`could not sign a job token for ${j.job.id}: ${(err as Error).message}`);
        j.tried.add(w.id);
        j.phase = 'queued';
        continue;
      }
      if (w.closed || j.dispatch.deleted) {
        j.tried.add(w.id);
        j.phase = 'queued';
        continue;
      }
      w.assign(j.job, token);
      load.assignedSinceReport++;
      j.phase = 'assigned';
      j.worker = w;
      const now = BigInt(Date.now());
      j.job.state = new JobState({
        status: JobStatus.JS_RUNNING,
        participantIdentity: identity,
        workerId: w.id,
        startedAt: now * 1_000_000n,
        updatedAt: now * 1_000_000n,
      });
      this.#report('started', j);
      return;
    }
  }

  /** Least-loaded AVAILABLE worker for the job's agent name that has not turned it down. */
  #pick(j: JobEntry): WorkerConnection | undefined {
    let best: WorkerConnection | undefined;
    let bestKey: [number, number, number] | undefined;
    const fleetPerJob = this.#fleetLoadPerJob();
    for (const [w, load] of this.#workers) {
      if (!w.available || w.agentName !== j.job.agentName || j.tried.has(w.id)) continue;
      if (j.onlyWorker ? w !== j.onlyWorker : w.jobType !== j.job.type) continue;
      const jobs = this.#jobsOf(w).length;
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

  async #jobToken(
    w: WorkerConnection,
    j: JobEntry,
    identity: string,
    answer: {
      participantName: string;
      participantMetadata: string;
      participantAttributes: Record<string, string>;
    },
  ): Promise<string> {
    const secret = this.#opts.keys.get(w.apiKey);
    if (secret === undefined) throw new Error('the worker API key is no longer configured');
    const at = new AccessToken(w.apiKey, secret, {
      identity,
      name: answer.participantName || undefined,
      metadata: answer.participantMetadata || undefined,
      // livekit-server (`BuildAgentToken`) names the agent in its attributes: clients and other agents
      // tell which agent a participant is by it.
      attributes: { ...answer.participantAttributes, [AGENT_NAME_ATTRIBUTE]: j.dispatch.dispatch.agentName },
      ttl: JOB_TOKEN_TTL,
    });
    const p = w.permissions;
    at.addGrant({
      room: j.dispatch.room.name,
      roomJoin: true,
      agent: true,
      canPublish: p?.canPublish ?? true,
      canSubscribe: p?.canSubscribe ?? true,
      canPublishData: p?.canPublishData ?? true,
      canUpdateOwnMetadata: p?.canUpdateMetadata ?? true,
      hidden: p?.hidden ?? false,
    });
    at.kind = 'agent';
    return at.toJwt();
  }

  #jobsOf(w: WorkerConnection): JobEntry[] {
    const out: JobEntry[] = [];
    for (const r of this.#rooms.values()) {
      for (const d of r.dispatches.values())
        if (d.current?.worker === w && d.current.phase === 'assigned') out.push(d.current);
    }
    return out;
  }

  #endJob(j: JobEntry, status: JobStatus, error: string): void {
    const wasRunning = j.phase === 'assigned';
    j.phase = 'ended';
    const now = BigInt(Date.now()) * 1_000_000n;
    const state = j.job.state ?? new JobState();
    state.status = status;
    state.error = error;
    state.endedAt = now;
    state.updatedAt = now;
    j.job.state = state;
    // A job that never reached a worker never started, so it does not end either.
    if (wasRunning) this.#report('ended', j);
  }

  #report(event: 'started' | 'ended', j: JobEntry): void {
    try {
      this.#opts.onJob?.(event, j.job.clone());
    } catch (err) {
      this.#opts.onWarning?.(`job ${event} listener failed: ${(err as Error).message}`);
    }
  }

  /**
   * livekit-server's `deregisterWorker`: the worker leaves the pools and its jobs are forgotten
   * ("TODO update dispatch state"): no re-dispatch, no restart policy (cloud only), the job keeps its
   * last state (JS_RUNNING) in the dispatch until the room closes, and its agent participant stays
   * until its own connection goes (research §1a, §1d). Bringing the conversation back is the agents'
   * business (agent/recovery/).
   */
  #onWorkerLost(w: WorkerConnection): void {
    const lost = this.#jobsOf(w);
    this.#workers.delete(w);
    if (this.#closed || lost.length === 0) return;
    this.#opts.onWarning?.(
      `worker ${w.id} lost with ${lost.length} running job(s); not re-dispatched (as livekit-server)`,
    );
  }

  #onJobStatus(w: WorkerConnection, jobId: string, status: JobStatus, error: string): void {
    const j = this.#jobsOf(w).find((x) => x.job.id === jobId);
    if (!j) return;
    if (status === JobStatus.JS_SUCCESS || status === JobStatus.JS_FAILED) {
      this.#endJob(j, status, error);
    } else if (j.job.state) {
      j.job.state.status = status;
      j.job.state.error = error;
      j.job.state.updatedAt = BigInt(Date.now()) * 1_000_000n;
    }
  }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
