/**
 * When to leave a connection after `goAway`: as soon as no reply is under way (right after a turn, on the
 * handle update that usually follows it), and at the latest after a share of the time left, so that a
 * reply in progress may finish on the old connection instead of being cut or redone on the new one.
 */
export class GoAwayTiming {
  readonly #grace: number;
  readonly #resumable: boolean;
  readonly #busy: () => boolean;
  readonly #migrate: () => void;
  /** goAway came and the migration has not happened yet. */
  #waiting = false;
  /** Migrate even if a reply is still running. */
  #deadline: NodeJS.Timeout | undefined;
  /** Short wait for the post-turn handle before migrating. */
  #settle: NodeJS.Timeout | undefined;

  /**
   * @param grace share of `timeLeft` a reply may take before migrating anyway
   * @param resumable handles are tracked: after a turn, wait briefly for the one that covers it
   * @param busy a reply is running or expected
   * @param migrate replaces the connection; it calls {@link GoAwayTiming.done} when it does
   */
  constructor(o: { grace: number; resumable: boolean; busy: () => boolean; migrate: () => void }) {
    this.#grace = o.grace;
    this.#resumable = o.resumable;
    this.#busy = o.busy;
    this.#migrate = o.migrate;
  }

  goAway(timeLeftMs: number | undefined): void {
    this.#waiting = true;
    const grace = Math.max(0, (timeLeftMs ?? 10_000) * this.#grace);
    this.#deadline = setTimeout(() => this.#migrate(), grace);
  }

  /** Migrates now if goAway came and nothing is under way. */
  check(): void {
    if (this.#waiting && !this.#busy()) this.#migrate();
  }

  /** After each server message, with what it said. */
  afterMessage(saw: { update: boolean; goAway: boolean; turnComplete: boolean }): void {
    if (!this.#waiting) return;
    // After a turn, the handle update usually rides right behind turnComplete; migrate on it.
    if (saw.update || saw.goAway || (saw.turnComplete && !this.#resumable)) this.check();
    if (this.#waiting && saw.turnComplete && this.#resumable) {
      clearTimeout(this.#settle);
      // Give the post-turn handle a moment; migrate regardless if it does not come.
      this.#settle = setTimeout(() => this.check(), 300);
    }
  }

  /** Stops the timers (a migration is starting, or the session closes). */
  stop(): void {
    clearTimeout(this.#deadline);
    clearTimeout(this.#settle);
  }

  /** The migration happened. */
  done(): void {
    this.#waiting = false;
  }
}
