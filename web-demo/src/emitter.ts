type Listener = (...args: unknown[]) => void;

/** A minimal typed event emitter: the page's modules talk to the UI through these events only. */
export class Emitter<Events extends Record<string, unknown[]>> {
  #listeners = new Map<keyof Events, Set<Listener>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const l = listener as unknown as Listener;
    set.add(l);
    return () => set.delete(l);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        listener(...args);
      } catch (err) {
        // One broken listener must not stop the others (or the media pipeline that emitted).
        console.error(err);
      }
    }
  }

  protected removeAllListeners(): void {
    this.#listeners.clear();
  }
}
