/**
 * A load generator in a process of its own (`loadgen-child.ts`), driven over Node's IPC channel, and a
 * pool of them: users go to the process with the fewest. With `count` 0 the pool is one generator in
 * the bench process (how the bench ran before, kept for comparison).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mergeLateness, worstLoopDelay } from './lateness.ts';
import { type Generator, type GeneratorOptions, type GeneratorWindow, LoadGenerator } from './loadgen.ts';
import { roomName } from './phases.ts';

export interface GeneratorRequest {
  id: number;
  cmd: 'add' | 'windowStart' | 'windowEnd' | 'stall' | 'close';
  /** For `stall`: how long to block the child's event loop. */
  ms?: number;
  /** For `add`: the user's room. */
  room?: string;
}

export type GeneratorResponse =
  | { id: number; ok: true; value?: unknown }
  | { id: number; ok: false; error: string };

const ENTRY = fileURLToPath(new URL('./loadgen-child.ts', import.meta.url));

export class ChildGenerator implements Generator {
  readonly #proc: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  #users = 0;
  readonly ready: Promise<void>;

  constructor(o: GeneratorOptions) {
    this.#proc = fork(ENTRY, [], {
      env: { ...process.env, BENCH_LOADGEN: JSON.stringify(o) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(0, { resolve: () => resolve(), reject });
    });
    this.#proc.on('message', (r: GeneratorResponse) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(new Error(r.error));
    });
    this.#proc.on('exit', (code, signal) => {
      for (const p of this.#pending.values())
        p.reject(new Error(`load generator exited (${signal ?? code})`));
      this.#pending.clear();
    });
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get users(): number {
    return this.#users;
  }

  request(cmd: GeneratorRequest['cmd'], o: { ms?: number; room?: string } = {}): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#proc.send({ id, cmd, ...o } satisfies GeneratorRequest);
    });
  }

  async addUser(room: string): Promise<void> {
    this.#users++;
    try {
      await this.request('add', { room });
    } catch (err) {
      this.#users--;
      throw err;
    }
  }

  async windowStart(): Promise<void> {
    await this.request('windowStart');
  }

  async windowEnd(): Promise<GeneratorWindow> {
    return (await this.request('windowEnd')) as GeneratorWindow;
  }

  async close(): Promise<void> {
    if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.#proc.once('exit', () => r()));
    await Promise.race([this.request('close').catch(() => {}), exited]);
    const kill = setTimeout(() => this.#proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(kill);
  }
}

/** Several generators as one: each window's records and lateness together, the worst loop delay. */
export class GeneratorPool {
  readonly generators: Generator[];
  readonly #prefix: string;

  private constructor(generators: Generator[], prefix: string) {
    this.generators = generators;
    this.#prefix = prefix;
  }

  /** `count` generator processes, or one generator in this process when `count` is 0. */
  static async start(count: number, o: GeneratorOptions): Promise<GeneratorPool> {
    if (count === 0) return new GeneratorPool([new LoadGenerator(o)], o.prefix);
    const children = Array.from({ length: count }, () => new ChildGenerator(o));
    await Promise.all(children.map((c) => c.ready));
    return new GeneratorPool(children, o.prefix);
  }

  get users(): number {
    return this.generators.reduce((a, g) => a + g.users, 0);
  }

  /** Generator processes other than this one. */
  get pids(): number[] {
    return this.generators.flatMap((g) => (g.pid === undefined ? [] : [g.pid]));
  }

  /**
   * Joins a user in a room of its own on the generator with the fewest, and resolves with the room's
   * name. The names come from this process: generator processes naming rooms themselves (time and a
   * counter of their own) gave two users added at the same millisecond the same room, where the later
   * one replaced the earlier (same identity) and every turn of the earlier one went unanswered.
   */
  async addUser(): Promise<string> {
    const g = this.generators.reduce((a, b) => (b.users < a.users ? b : a));
    const room = roomName(this.#prefix);
    await g.addUser(room);
    return room;
  }

  async windowStart(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.windowStart()));
  }

  async windowEnd(): Promise<GeneratorWindow> {
    const parts = await Promise.all(this.generators.map((g) => g.windowEnd()));
    return {
      records: parts.flatMap((p) => p.records),
      lateness: mergeLateness(parts.map((p) => p.lateness)),
      loop: worstLoopDelay(parts.map((p) => p.loop)) ?? { p50Ms: 0, p99Ms: 0, maxMs: 0 },
      users: parts.reduce((a, p) => a + p.users, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.close()));
  }
}
