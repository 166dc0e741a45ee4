/**
 * The capacity phase's load generator: simulated users (one talking user per room, each with the
 * side's agent dispatched) and their talk loops, plus the generator's own lateness. It runs inside a
 * generator process (`loadgen-child.ts`, the default) or, with `--generators 0`, in the bench process.
 *
 * A user joins, waits for the agent's audio track and proves the whole path with one full exchange
 * (not measured); then it talks: a 0.6 s utterance, waits for the reply (10 s) and its end, pauses
 * 0.2–1 s, again. Every turn is a {@link TalkRecord}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LiveKitEndpoint } from './children.ts';
import { type FrameLatenessData, type LoopDelay, LoopMonitor, mergeLateness } from './lateness.ts';
import { now } from './stats.ts';
import { BenchUser } from './user.ts';

export interface TalkRecord {
  /** The user's end of speech (epoch ms). */
  at: number;
  /** End of speech → first agent audio at the user, ms (none if the reply never came). */
  rt?: number;
  /** Underruns inside the reply (silent stretches ≥ 20 ms). */
  gaps: number;
  missed: boolean;
}

export interface GeneratorOptions {
  livekit: LiveKitEndpoint;
  agentName: string;
  /** Room names are `<prefix>-<time>-<n>`, given by the {@link GeneratorPool} that spreads the users. */
  prefix: string;
}

/** What a generator saw over a measuring window. */
export interface GeneratorWindow {
  records: TalkRecord[];
  lateness: FrameLatenessData;
  loop: LoopDelay;
  users: number;
}

/** The generator as the capacity phase drives it, in this process or another. */
export interface Generator {
  readonly users: number;
  /**
   * Joins one more user (with the agent) in `room`, a name no other user of the run has, and proves
   * its path; throws if the agent never answered.
   */
  addUser(room: string): Promise<void>;
  windowStart(): Promise<void>;
  windowEnd(): Promise<GeneratorWindow>;
  /** The generator's process (for /proc sampling), or undefined when it is the bench process. */
  readonly pid: number | undefined;
  close(): Promise<void>;
}

export class LoadGenerator implements Generator {
  readonly pid = undefined;
  #o: GeneratorOptions;
  #users: BenchUser[] = [];
  #loops: Promise<void>[] = [];
  #records: TalkRecord[] = [];
  #windowFrom = 0;
  #stop = false;
  #loop = new LoopMonitor();

  constructor(o: GeneratorOptions) {
    this.#o = o;
  }

  get users(): number {
    return this.#users.length;
  }

  async addUser(room: string): Promise<void> {
    let user: BenchUser;
    try {
      user = await this.#join(room, 60_000);
    } catch {
      // On a loaded machine a job process sometimes fails to start: once more in a fresh room.
      user = await this.#join(`${room}-retry`, 60_000);
    }
    this.#users.push(user);
    this.#loops.push(this.#talk(user, this.#users.length));
  }

  async #join(room: string, timeoutMs: number): Promise<BenchUser> {
    const user = new BenchUser({
      livekit: this.#o.livekit,
      room,
      identity: 'user',
      agentName: this.#o.agentName,
    });
    try {
      await user.connect();
      const deadline = Date.now() + timeoutMs;
      while (!user.hasRemoteAudio()) {
        if (Date.now() > deadline) throw new Error(`agent did not join within ${timeoutMs} ms`);
        await sleep(50);
      }
      // Readiness: one exchange, not measured (the agent's first reply proves the whole path).
      const u = await user.say(0.6, 99);
      const b = await user.nextOnset(u.endAt, 30_000);
      await user.ended(b, 15_000).catch(() => {});
      return user;
    } catch (err) {
      await user.close();
      throw err;
    }
  }

  async #talk(user: BenchUser, seed: number): Promise<void> {
    await user.pause(Math.random());
    let told = false;
    while (!this.#stop) {
      const u = await user.say(0.6, seed);
      try {
        const b = await user.nextOnset(u.endAt, 10_000);
        await user.ended(b, 15_000);
        this.#records.push({ at: u.endAt, rt: b.onsetAt - u.endAt, gaps: b.gaps, missed: false });
      } catch {
        this.#records.push({ at: u.endAt, gaps: 0, missed: true });
        // Still a missed reply, but say why: no agent can answer a user the server sent away.
        if (user.disconnectedBy && !told) {
          told = true;
          console.error(
            `load generator: ${user.roomName}: the user was disconnected (${user.disconnectedBy})`,
          );
        }
      }
      if (this.#stop) break;
      await user.pause(0.2 + 0.8 * Math.random());
    }
  }

  async windowStart(): Promise<void> {
    this.#windowFrom = now();
    this.#records = [];
    for (const u of this.#users) u.lateness.reset();
    this.#loop.reset();
  }

  /** Turns whose speech ended inside the window, and the lateness since {@link windowStart}. */
  async windowEnd(): Promise<GeneratorWindow> {
    const to = now();
    return {
      records: this.#records.filter((r) => r.at >= this.#windowFrom && r.at <= to),
      lateness: mergeLateness(this.#users.map((u) => u.lateness.data())),
      loop: this.#loop.read(),
      users: this.#users.length,
    };
  }

  /** Blocks this process's event loop (the harness test checks that lateness is seen). */
  stall(ms: number): void {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy
    }
  }

  async close(): Promise<void> {
    this.#stop = true;
    await Promise.race([Promise.allSettled(this.#loops), sleep(20_000)]);
    await Promise.all(this.#users.map((u) => u.close()));
    this.#loop.close();
  }
}
