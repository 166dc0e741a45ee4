import { EventEmitter } from 'node:events';
import {
  type AvailabilityResponse,
  type Job,
  JobAssignment,
  JobStatus,
  JobTermination,
  JobType,
  type ParticipantPermission,
  RegisterWorkerResponse,
  ServerMessage,
  type SimulateJobRequest,
  WorkerMessage,
  WorkerPong,
  WorkerStatus,
} from '@livekit/protocol';
import type { RawData, WebSocket } from 'ws';
import { serverInfo } from '../server-info.ts';

export interface WorkerConnectionEvents {
  /** The worker sent its RegisterWorkerRequest and was answered. */
  registered: [];
  /** A load/status report (`updateWorker`). */
  status: [];
  /** The worker reported a job's status (`updateJob`; agents-js 1.9 never sends it). */
  jobStatus: [jobId: string, status: JobStatus, error: string];
  /** The worker asked for a job in a given room (`simulateJob`, used by `agents connect --room`). */
  simulate: [request: SimulateJobRequest];
  /** The worker asked to hand these jobs to another worker (`migrateJob`). */
  migrate: [jobIds: string[]];
  /** The socket is gone (closed, errored or timed out); emitted once. */
  closed: [];
}

export interface WorkerConnectionOptions {
  /** API key the worker authenticated with; job tokens are signed with the same pair. */
  apiKey: string;
  /** How long a worker has to answer an availability request (default 10 s). */
  availabilityTimeoutMs?: number;
  /** WebSocket keepalive period; a worker that misses a whole period is dropped (default 15 s). */
  keepaliveMs?: number;
  /** Node id reported in ServerInfo. */
  nodeId?: string;
  onWarning?: (msg: string) => void;
}

let workerCounter = 0;

/**
 * One `/agent` worker WebSocket: decodes `WorkerMessage`s (binary protobuf, or protobuf JSON in
 * text frames), keeps the worker's registration, status and load, and sends `ServerMessage`s.
 * Scheduling decisions live in the dispatcher; this class only speaks the protocol.
 */
export class WorkerConnection extends EventEmitter<WorkerConnectionEvents> {
  readonly apiKey: string;
  /** `AW_…`, assigned on registration. */
  id = '';
  agentName = '';
  jobType: JobType = JobType.JT_ROOM;
  namespace = '';
  version = '';
  permissions: ParticipantPermission | undefined;
  status: WorkerStatus = WorkerStatus.WS_AVAILABLE;
  load = 0;
  registered = false;
  closed = false;
  /** Registration order: ties between equally loaded workers go to the older one. */
  readonly seq = ++workerCounter;

  readonly #ws: WebSocket;
  readonly #opts: WorkerConnectionOptions;
  readonly #pending = new Map<string, (answer: AvailabilityResponse | undefined) => void>();
  #json = false;
  #alive = true;
  readonly #keepalive: NodeJS.Timeout;

  constructor(ws: WebSocket, opts: WorkerConnectionOptions) {
    super();
    this.#ws = ws;
    this.#opts = opts;
    this.apiKey = opts.apiKey;
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('pong', () => {
      this.#alive = true;
    });
    ws.on('close', () => this.#onClosed());
    ws.on('error', () => this.#onClosed());
    this.#keepalive = setInterval(() => {
      if (!this.#alive) {
        opts.onWarning?.(`worker ${this.id || '(unregistered)'} missed keepalive, dropping it`);
        ws.terminate();
        this.#onClosed();
        return;
      }
      this.#alive = false;
      ws.ping();
    }, opts.keepaliveMs ?? 15_000);
    this.#keepalive.unref();
  }

  /** Free to take a job: registered, open and reporting AVAILABLE. */
  get available(): boolean {
    return this.registered && !this.closed && this.status === WorkerStatus.WS_AVAILABLE;
  }

  /**
   * Offers a job; resolves with the worker's answer, or undefined when it does not answer in time
   * or disconnects first.
   */
  requestAvailability(job: Job, resuming = false): Promise<AvailabilityResponse | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), this.#opts.availabilityTimeoutMs ?? 10_000);
      const finish = (answer: AvailabilityResponse | undefined) => {
        clearTimeout(timer);
        this.#pending.delete(job.id);
        resolve(answer);
      };
      this.#pending.set(job.id, finish);
      this.#send(new ServerMessage({ message: { case: 'availability', value: { job, resuming } } }));
    });
  }

  assign(job: Job, token: string, url?: string): void {
    this.#send(
      new ServerMessage({
        message: { case: 'assignment', value: new JobAssignment({ job, token, ...(url ? { url } : {}) }) },
      }),
    );
  }

  terminate(jobId: string): void {
    this.#send(new ServerMessage({ message: { case: 'termination', value: new JobTermination({ jobId }) } }));
  }

  close(code = 1001, reason = 'server shutting down'): void {
    if (this.closed) return;
    this.#ws.close(code, reason);
    this.#onClosed();
  }

  #send(msg: ServerMessage): void {
    if (this.closed || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(this.#json ? msg.toJsonString() : msg.toBinary());
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    let msg: WorkerMessage;
    try {
      if (isBinary) {
        msg = WorkerMessage.fromBinary(bytes);
      } else {
        msg = WorkerMessage.fromJsonString(bytes.toString('utf8'), { ignoreUnknownFields: true });
        this.#json = true;
      }
    } catch {
      // A peer that sends garbage cannot be scheduled reliably; cut it loose rather than guess.
      this.#opts.onWarning?.(`worker ${this.id || '(unregistered)'} sent a malformed message, closing`);
      this.#ws.close(1007, 'malformed WorkerMessage');
      this.#onClosed();
      return;
    }
    const m = msg.message;
    if (!this.registered && m.case !== 'register' && m.case !== 'ping') {
      this.#opts.onWarning?.(`worker sent ${m.case ?? 'an empty message'} before registering, ignored`);
      return;
    }
    switch (m.case) {
      case 'register': {
        if (this.registered) return;
        this.id = `AW_${randomId(12)}`;
        this.agentName = m.value.agentName;
        this.jobType = m.value.type;
        this.namespace = m.value.namespace ?? '';
        this.version = m.value.version;
        this.permissions = m.value.allowedPermissions;
        this.registered = true;
        this.#send(
          new ServerMessage({
            message: {
              case: 'register',
              value: new RegisterWorkerResponse({
                workerId: this.id,
                serverInfo: serverInfo({
                  ...(this.#opts.nodeId !== undefined && { nodeId: this.#opts.nodeId }),
                  agentProtocol: 1,
                }),
              }),
            },
          }),
        );
        this.emit('registered');
        return;
      }
      case 'availability':
        this.#pending.get(m.value.jobId)?.(m.value);
        return;
      case 'updateWorker':
        if (m.value.status !== undefined) this.status = m.value.status;
        if (Number.isFinite(m.value.load)) this.load = Math.max(0, m.value.load);
        this.emit('status');
        return;
      case 'updateJob':
        this.emit('jobStatus', m.value.jobId, m.value.status ?? JobStatus.JS_PENDING, m.value.error);
        return;
      case 'ping':
        this.#send(
          new ServerMessage({
            message: {
              case: 'pong',
              value: new WorkerPong({ lastTimestamp: m.value.timestamp, timestamp: BigInt(Date.now()) }),
            },
          }),
        );
        return;
      case 'simulateJob':
        this.emit('simulate', m.value);
        return;
      case 'migrateJob':
        this.emit('migrate', m.value.jobIds);
        return;
      default:
        return;
    }
  }

  #onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.#keepalive);
    for (const finish of [...this.#pending.values()]) finish(undefined);
    this.emit('closed');
  }
}

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** LiveKit-style id suffix (base57, no look-alike characters). */
export function randomId(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}
