/** What a {@link Waiters.until} waits for. */
export interface WaitOptions {
  /** Named in the error: "timed out waiting for <what>". */
  what: string;
  timeoutMs: number;
  /** A reason to give up before the timeout (the peer exited, the socket closed), else undefined. */
  failure?: () => string | undefined;
  /** Added to every error (e.g. the tail of a child's output). */
  context?: () => string;
  /** Also re-check on a timer, for state that changes without a {@link Waiters.notify}. */
  pollMs?: number;
}

/**
 * Event-driven waits for the test and bench drivers (child processes, hand-driven sockets, simulated
 * users): the owner calls {@link Waiters.notify} whenever its state may have changed, and every pending
 * wait re-checks its condition then instead of polling.
 */
export class Waiters {
  readonly #checks = new Set<() => void>();

  /** Re-runs every pending wait's check. */
  notify(): void {
    for (const check of [...this.#checks]) check();
  }

  /** Resolves with the first value `value()` gives other than undefined. */
  until<T>(value: () => T | undefined, o: WaitOptions): Promise<T> {
    return new Promise((resolve, reject) => {
      const fail = (message: string) => {
        done();
        reject(new Error(o.context ? `${message}:\n${o.context()}` : message));
      };
      const check = () => {
        const v = value();
        if (v !== undefined) {
          done();
          resolve(v);
          return;
        }
        const reason = o.failure?.();
        if (reason) fail(`${reason} while waiting for ${o.what}`);
      };
      const timer = setTimeout(() => fail(`timed out waiting for ${o.what}`), o.timeoutMs);
      const poll = o.pollMs ? setInterval(check, o.pollMs) : undefined;
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.#checks.delete(check);
      };
      this.#checks.add(check);
      check();
    });
  }
}
