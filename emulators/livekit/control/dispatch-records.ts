import {
  AgentDispatch,
  AgentDispatchState,
  Job,
  JobRestartPolicy,
  JobState,
  JobStatus,
  JobType,
  type Room,
} from '@livekit/protocol';
import { randomId, type WorkerConnection } from './worker-connection.ts';

/** Jobs kept per dispatch for ListDispatch (the newest). */
const MAX_JOB_HISTORY = 16;

export interface DispatchSpec {
  agentName: string;
  metadata?: string;
  attributes?: Record<string, string>;
  restartPolicy?: JobRestartPolicy;
}

export type JobPhase = 'queued' | 'offering' | 'assigned' | 'ended';

/** One room's dispatches, kept from its first dispatch (or start) until it finishes. */
export interface RoomEntry {
  readonly name: string;
  readonly dispatches: Map<string, DispatchEntry>;
  started: boolean;
}

export interface DispatchEntry {
  readonly dispatch: AgentDispatch;
  readonly room: RoomEntry;
  /** The job currently serving this dispatch (the last one launched). */
  current: JobEntry | undefined;
  deleted: boolean;
  /** `simulateJob`: the dispatch belongs to the worker that asked for it. */
  onlyWorker?: WorkerConnection;
}

export interface JobEntry {
  readonly job: Job;
  readonly dispatch: DispatchEntry;
  phase: JobPhase;
  worker: WorkerConnection | undefined;
  /** Workers that declined or did not answer; never offered this job again. */
  readonly tried: Set<string>;
  /** `simulateJob`: the job belongs to the worker that asked for it. */
  readonly onlyWorker: WorkerConnection | undefined;
}

/** Records a dispatch in its room (not launched). */
export function addDispatch(r: RoomEntry, spec: DispatchSpec): DispatchEntry {
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

/** A new pending job for a dispatch, made its current one and kept in its (bounded) history. */
export function newJob(d: DispatchEntry, room: Room | undefined): JobEntry {
  const onlyWorker = d.onlyWorker;
  const now = BigInt(Date.now());
  const job = new Job({
    id: `AJ_${randomId(12)}`,
    dispatchId: d.dispatch.id,
    type: onlyWorker?.jobType ?? JobType.JT_ROOM,
    room,
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
  return j;
}

/** The job was assigned to `w` and its agent joins as `identity`: it is running. */
export function markRunning(j: JobEntry, w: WorkerConnection, identity: string): void {
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
}

/** Ends the job with `status`; true when it was running (a job that never reached a worker never started). */
export function markEnded(j: JobEntry, status: JobStatus, error: string): boolean {
  const wasRunning = j.phase === 'assigned';
  j.phase = 'ended';
  const now = BigInt(Date.now()) * 1_000_000n;
  const state = j.job.state ?? new JobState();
  state.status = status;
  state.error = error;
  state.endedAt = now;
  state.updatedAt = now;
  j.job.state = state;
  return wasRunning;
}
