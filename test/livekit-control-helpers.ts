/**
 * Helpers for the control-plane suites: a room-side TEST DOUBLE of `RoomDirectory` (in-memory rooms
 * whose participants the test adds/removes by hand, no media) behind a node:http server, and agent
 * worker child processes. The double stands in for the media core only; the control plane under test
 * is the real one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type DataPacket_Kind,
  ParticipantInfo,
  ParticipantInfo_State,
  ParticipantPermission,
  Room,
  RoomAgentDispatch,
  RoomConfiguration,
} from '@livekit/protocol';
import { Room as RtcRoom } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { createControlPlane } from '../emulators/livekit/control/index.ts';
import type { RoomDirectory, RoomDirectoryEvents } from '../emulators/livekit/room-directory.ts';

export const API_KEY = 'testkey';
export const API_SECRET = 'testsecret-0123456789abcdefghijklmnop';

type Listener = (...args: never[]) => void;

/** In-memory rooms; `join`/`leave` simulate what the media core reports. */
export class FakeRoomDirectory implements RoomDirectory {
  readonly rooms = new Map<string, { room: Room; participants: Map<string, ParticipantInfo> }>();
  readonly sent: {
    room: string;
    payload: Uint8Array;
    kind: DataPacket_Kind;
    topic?: string;
    destinationIdentities?: string[];
  }[] = [];
  readonly #listeners = new Map<string, Set<Listener>>();
  #seq = 0;

  ensureRoom(
    name: string,
    options?: { metadata?: string; emptyTimeout?: number; maxParticipants?: number },
  ): Room {
    const existing = this.rooms.get(name);
    if (existing) return existing.room;
    const room = new Room({
      sid: `RM_${++this.#seq}`,
      name,
      metadata: options?.metadata ?? '',
      emptyTimeout: options?.emptyTimeout ?? 300,
      maxParticipants: options?.maxParticipants ?? 0,
      creationTime: BigInt(Math.floor(Date.now() / 1000)),
    });
    this.rooms.set(name, { room, participants: new Map() });
    this.#emit('roomStarted', room, []);
    return room;
  }
  getRoom(name: string): Room | undefined {
    return this.rooms.get(name)?.room;
  }
  listRooms(names?: string[]): Room[] {
    return [...this.rooms.values()].map((r) => r.room).filter((r) => !names || names.includes(r.name));
  }
  deleteRoom(name: string): boolean {
    const r = this.rooms.get(name);
    if (!r) return false;
    for (const p of [...r.participants.values()]) this.leave(name, p.identity);
    this.rooms.delete(name);
    this.#emit('roomFinished', r.room);
    return true;
  }
  listParticipants(room: string): ParticipantInfo[] {
    return [...(this.rooms.get(room)?.participants.values() ?? [])];
  }
  getParticipant(room: string, identity: string): ParticipantInfo | undefined {
    return this.rooms.get(room)?.participants.get(identity);
  }
  removeParticipant(room: string, identity: string): boolean {
    if (!this.getParticipant(room, identity)) return false;
    this.leave(room, identity);
    return true;
  }
  updateParticipant(
    room: string,
    identity: string,
    update: {
      name?: string;
      metadata?: string;
      attributes?: Record<string, string>;
      permission?: ParticipantPermission;
    },
  ): ParticipantInfo | undefined {
    const p = this.getParticipant(room, identity);
    if (!p) return undefined;
    if (update.name !== undefined) p.name = update.name;
    if (update.metadata !== undefined) p.metadata = update.metadata;
    if (update.permission) p.permission = update.permission;
    for (const [k, v] of Object.entries(update.attributes ?? {})) {
      if (v === '') delete p.attributes[k];
      else p.attributes[k] = v;
    }
    return p;
  }
  sendData(
    room: string,
    data: { payload: Uint8Array; kind: DataPacket_Kind; topic?: string; destinationIdentities?: string[] },
  ): boolean {
    if (!this.rooms.has(room)) return false;
    this.sent.push({ room, ...data });
    return true;
  }
  on<E extends keyof RoomDirectoryEvents>(event: E, listener: RoomDirectoryEvents[E]): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }

  /** A participant joins (creating the room like a first join does), optionally carrying token agents. */
  join(
    room: string,
    identity: string,
    agents: { agentName: string; metadata: string }[] = [],
  ): ParticipantInfo {
    let r = this.rooms.get(room);
    if (!r) {
      const created = new Room({ sid: `RM_${++this.#seq}`, name: room });
      r = { room: created, participants: new Map() };
      this.rooms.set(room, r);
      const p = this.#add(r, identity);
      this.#emit('roomStarted', created, agents);
      this.#emit('participantJoined', created, p, []);
      return p;
    }
    const p = this.#add(r, identity);
    this.#emit('participantJoined', r.room, p, agents);
    return p;
  }
  leave(room: string, identity: string): void {
    const r = this.rooms.get(room);
    const p = r?.participants.get(identity);
    if (!r || !p) return;
    r.participants.delete(identity);
    p.state = ParticipantInfo_State.DISCONNECTED;
    this.#emit('participantLeft', r.room, p);
  }

  #add(r: { room: Room; participants: Map<string, ParticipantInfo> }, identity: string): ParticipantInfo {
    const p = new ParticipantInfo({
      sid: `PA_${++this.#seq}`,
      identity,
      state: ParticipantInfo_State.ACTIVE,
      permission: new ParticipantPermission({ canPublish: true, canSubscribe: true, canPublishData: true }),
      joinedAt: BigInt(Math.floor(Date.now() / 1000)),
    });
    r.participants.set(identity, p);
    r.room.numParticipants = r.participants.size;
    return p;
  }
  #emit<E extends keyof RoomDirectoryEvents>(event: E, ...args: Parameters<RoomDirectoryEvents[E]>): void {
    for (const l of [...(this.#listeners.get(event) ?? [])]) (l as (...a: unknown[]) => void)(...args);
  }
}

export interface FakeServer {
  url: string;
  httpUrl: string;
  directory: FakeRoomDirectory;
  warnings: string[];
  close(): Promise<void>;
}

/** The real control plane on a node:http server, rooms from the in-memory double. */
export async function startFakeServer(opts: { availabilityTimeoutMs?: number } = {}): Promise<FakeServer> {
  const directory = new FakeRoomDirectory();
  const warnings: string[] = [];
  let server: Server | undefined;
  const control = createControlPlane({
    directory,
    keys: { [API_KEY]: API_SECRET },
    serverUrl: 'ws://127.0.0.1:0',
    onWarning: (m) => warnings.push(m),
    ...opts,
  });
  server = createServer((req, res) => {
    if (!control.handleRequest(req, res)) {
      res.writeHead(404).end();
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (!control.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    directory,
    warnings,
    close: async () => {
      await control.close();
      server?.closeAllConnections();
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      server = undefined;
    },
  };
}

const TRIVIAL_AGENT = fileURLToPath(new URL('./fixtures/agents/trivial-agent.ts', import.meta.url));

export interface WorkerProcessOptions {
  url: string;
  apiKey?: string;
  apiSecret?: string;
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
  readonly #waiters = new Set<() => void>();

  constructor(o: WorkerProcessOptions) {
    this.tag = o.tag;
    this.child = spawn(process.execPath, [TRIVIAL_AGENT, 'start', '--log-level', 'info'], {
      env: {
        ...process.env,
        LIVEKIT_URL: o.url,
        LIVEKIT_API_KEY: o.apiKey ?? API_KEY,
        LIVEKIT_API_SECRET: o.apiSecret ?? API_SECRET,
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
      for (const w of [...this.#waiters]) w();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.child.on('exit', () => {
      for (const w of [...this.#waiters]) w();
    });
  }

  /** Resolves with the worker id once the worker has registered with the server. */
  registered(timeoutMs = 45_000): Promise<string> {
    return this.#until(() => this.workerId, timeoutMs, 'worker registration');
  }

  #until<T>(f: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = f();
        if (v !== undefined) {
          cleanup();
          resolve(v);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          cleanup();
          reject(new Error(`worker ${this.tag} exited before ${what}:\n${this.output.slice(-3000)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`timed out waiting for ${what} of worker ${this.tag}:\n${this.output.slice(-3000)}`),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
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

/** Polls `f` until it returns a value (not undefined/false) or the timeout passes. */
export async function waitFor<T>(
  f: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

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
