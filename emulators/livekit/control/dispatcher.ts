import { type AgentDispatch, type Job, JobStatus } from '@livekit/protocol';
import type { ApiKeys } from '../api-keys.ts';
import type { RoomDirectory } from '../room-directory.ts';
import {
  addDispatch,
  type DispatchEntry,
  type DispatchSpec,
  type JobEntry,
  markEnded,
  markRunning,
  newJob,
  type RoomEntry,
} from './dispatch-records.ts';
import { jobToken } from './job-token.ts';
import type { WorkerConnection } from './worker-connection.ts';
import { WorkerPool } from './worker-pool.ts';

export type { DispatchSpec } from './dispatch-records.ts';
export { AGENT_NAME_ATTRIBUTE } from './job-token.ts';

export interface AgentDispatcherOptions {
  directory: RoomDirectory;
  /** API key → secret, to sign job tokens with the pair the worker authenticated with. */
  keys: ApiKeys;
  onWarning?: (msg: string) => void;
  /** A job started running on a worker, or a running job ended (the agent_job_* webhooks). */
  onJob?: (event: 'started' | 'ended', job: Job) => void;
}

/**
 * Agent dispatch: keeps each room's dispatches (automatic, token `roomConfig.agents`, CreateRoom
 * agents, CreateDispatch) and their jobs (`dispatch-records.ts`), and places every job on the
 * least-loaded AVAILABLE worker registered for the agent name (`worker-pool.ts`), retrying elsewhere
 * on decline/timeout. A job that finds no worker waits for one to register or free up. Like
 * livekit-server, a job whose worker disappears is never placed again (see `#onWorkerLost`).
 */
export class AgentDispatcher {
  readonly #directory: RoomDirectory;
  readonly #opts: AgentDispatcherOptions;
  readonly #rooms = new Map<string, RoomEntry>();
  readonly #workers = new WorkerPool((w) => this.#jobsOf(w).length);
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
      this.#workers.register(w);
      this.#pump();
    });
    w.on('status', () => {
      if (!this.#workers.reported(w)) return;
      if (w.available) this.#pump();
    });
    w.on('jobStatus', (jobId, status, error) => this.#onJobStatus(w, jobId, status, error));
    w.on('simulate', (req) => {
      const name = req.room?.name;
      if (!name) return;
      const r = this.#room(name);
      const entry = addDispatch(r, { agentName: w.agentName });
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
    const entry = addDispatch(r, spec);
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
    this.#workers.closeAll();
    this.#rooms.clear();
  }

  // --- room lifecycle -------------------------------------------------------------------------

  #onRoomStarted(name: string, agents: { agentName: string; metadata: string }[]): void {
    const r = this.#room(name);
    r.started = true;
    for (const a of agents) addDispatch(r, { agentName: a.agentName, metadata: a.metadata });
    // A room nobody configured agents for gets the automatic dispatch (workers without a name).
    if (r.dispatches.size === 0) addDispatch(r, { agentName: '' });
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
      this.#launch(addDispatch(r, { agentName: a.agentName, metadata: a.metadata }));
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

  // --- jobs -----------------------------------------------------------------------------------

  #launch(d: DispatchEntry): void {
    if (d.deleted || this.#closed) return;
    void this.#offer(newJob(d, this.#directory.getRoom(d.room.name)));
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
      j.phase = 'offering';
      const offer = this.#workers.beginOffer(w);
      if (j.job.room === undefined) j.job.room = this.#directory.getRoom(j.dispatch.room.name);
      const answer = await w.requestAvailability(j.job);
      offer.answered();
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
        token = await jobToken(
          this.#opts.keys,
          w,
          { room: j.dispatch.room.name, agentName: j.dispatch.dispatch.agentName, identity },
          answer,
        );
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
      offer.assigned();
      markRunning(j, w, identity);
      this.#report('started', j);
      return;
    }
  }

  #pick(j: JobEntry): WorkerConnection | undefined {
    return this.#workers.pick({
      agentName: j.job.agentName,
      type: j.job.type,
      tried: j.tried,
      onlyWorker: j.onlyWorker,
    });
  }

  #jobsOf(w: WorkerConnection): JobEntry[] {
    const out: JobEntry[] = [];
    for (const r of this.#rooms.values()) {
      for (const d of r.dispatches.values())
        if (d.current?.worker === w && d.current.phase === 'assigned') out.push(d.current);
    }
    return out;
  }

  // --- job ends -------------------------------------------------------------------------------

  #endJob(j: JobEntry, status: JobStatus, error: string): void {
    // A job that never reached a worker never started, so it does not end either.
    if (markEnded(j, status, error)) this.#report('ended', j);
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
    this.#workers.remove(w);
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
