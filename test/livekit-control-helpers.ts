/**
 * Helpers for the control-plane suites: real `@livekit/agents` workers in child processes, real
 * `@livekit/rtc-node` participants, and condition polling.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RoomAgentDispatch, RoomConfiguration } from '@livekit/protocol';
import { Room as RtcRoom } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { Waiters } from '../shared/waiters.ts';

const TRIVIAL_AGENT = fileURLToPath(new URL('./fixtures/agents/trivial-agent.ts', import.meta.url));

export interface WorkerProcessOptions {
  url: string;
  apiKey: string;
  apiSecret: string;
  /** Shown by the agent as participant attribute `test.worker`, to tell workers apart. */
  tag: string;
  agentName?: string;
  /** Load reported per running job (worker is FULL at 1). */
  loadPerJob?: number;
  /** Decline every job. */
  reject?: boolean;
  /** Port of the worker's health-check server (agents-js defaults every worker to 8081). */
  healthPort: number;
}

/** A real `@livekit/agents` worker (`trivial-agent.ts start`) in a child process. */
export class WorkerProcess {
  readonly tag: string;
  readonly child: ChildProcess;
  /** Worker id from its "registered worker" log line, once registered. */
  workerId: string | undefined;
  output = '';
  readonly #waiters = new Waiters();

  constructor(o: WorkerProcessOptions) {
    this.tag = o.tag;
    this.child = spawn(process.execPath, [TRIVIAL_AGENT, 'start', '--log-level', 'info'], {
      env: {
        ...process.env,
        LIVEKIT_URL: o.url,
        LIVEKIT_API_KEY: o.apiKey,
        LIVEKIT_API_SECRET: o.apiSecret,
        TEST_WORKER_TAG: o.tag,
        TEST_AGENT_NAME: o.agentName ?? '',
        TEST_LOAD_PER_JOB: String(o.loadPerJob ?? 0.25),
        TEST_REJECT: o.reject ? '1' : '',
        TEST_HEALTH_PORT: String(o.healthPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: cleanup reaches the job processes the worker forks.
      detached: true,
    });
    const onData = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      if (this.output.length > 400_000) this.output = this.output.slice(-200_000);
      if (!this.workerId) {
        const m =
          /"msg":"registered worker"[^\n]*?"id":"(AW_[^"]+)"|"id":"(AW_[^"]+)"[^\n]*?"msg":"registered worker"/.exec(
            this.output,
          );
        if (m) this.workerId = m[1] ?? m[2];
      }
      this.#waiters.notify();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.child.on('exit', () => {
      this.#waiters.notify();
    });
  }

  /** Resolves with the worker id once the worker has registered with the server. */
  registered(timeoutMs = 45_000): Promise<string> {
    return this.#waiters.until(() => this.workerId, {
      what: `registration of worker ${this.tag}`,
      timeoutMs,
      failure: () =>
        this.child.exitCode !== null || this.child.signalCode !== null
          ? `worker ${this.tag} exited`
          : undefined,
      context: () => this.output.slice(-3000),
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL the worker process alone: its job processes live on until they notice (a real crash). */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  /** Ends the worker and every process it forked (its process group), and waits for the worker. */
  async stop(): Promise<void> {
    const exited = this.running
      ? new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
      : Promise.resolve();
    try {
      if (this.child.pid) process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // group already gone
    }
    await exited;
  }
}

/** A port that was free a moment ago (for servers that cannot bind port 0 themselves). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export { waitFor } from './fixtures/wait.ts';

/** Mints a join token (optionally carrying `roomConfig.agents`) for a real client. */
export async function joinToken(
  keys: { apiKey: string; apiSecret: string },
  room: string,
  identity: string,
  agents: { agentName: string; metadata?: string }[] = [],
): Promise<string> {
  const at = new AccessToken(keys.apiKey, keys.apiSecret, { identity, ttl: '10m' });
  at.addGrant({ roomJoin: true, room, canUpdateOwnMetadata: true });
  if (agents.length) {
    at.roomConfig = new RoomConfiguration({
      agents: agents.map(
        (a) => new RoomAgentDispatch({ agentName: a.agentName, metadata: a.metadata ?? '' }),
      ),
    });
  }
  return at.toJwt();
}

/** A real `@livekit/rtc-node` participant connected to `room`. */
export async function connectParticipant(
  server: { url: string; apiKey: string; apiSecret: string },
  room: string,
  identity: string,
  agents: { agentName: string; metadata?: string }[] = [],
): Promise<RtcRoom> {
  const r = new RtcRoom();
  await r.connect(server.url, await joinToken(server, room, identity, agents), {
    autoSubscribe: false,
    dynacast: false,
  });
  return r;
}

/** The remote agent participants a client sees, with the worker tag the trivial agent sets. */
export function agentsSeenBy(
  r: RtcRoom,
): { identity: string; worker: string; job: string; metadata: string }[] {
  return [...r.remoteParticipants.values()]
    .filter((p) => p.attributes['test.worker'] !== undefined)
    .map((p) => ({
      identity: p.identity,
      worker: p.attributes['test.worker'] ?? '',
      job: p.attributes['test.job'] ?? '',
      metadata: p.attributes['test.metadata'] ?? '',
    }));
}
