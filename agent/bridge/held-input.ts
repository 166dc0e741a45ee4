/** Most input audio a held conversation keeps, ms (oldest dropped first). */
const MAX_HELD_AUDIO_MS = 60_000;
/** Most chat messages a held conversation keeps (oldest dropped first). */
const MAX_HELD_CHATS = 32;

interface HeldAudio {
  pcm: Int16Array;
  sampleRate: number;
  /** Epoch ms it arrived. */
  at: number;
}

/** A chat message held for the release. */
export interface HeldChat {
  from: string;
  text: string;
  /** The `lk.chat` stream's id (the same for every receiver). */
  id: string | undefined;
}

/** What a {@link HeldInput} gives back on release, and what it left (for the log). */
export interface HeldRelease {
  /** Audio that arrived at or after the release's instant, in arrival order. */
  audio: { pcm: Int16Array; sampleRate: number }[];
  /** Chat messages the old job's session did not have, in arrival order. */
  chats: HeldChat[];
  /** All audio held, ms (what the bound kept). */
  heldMs: number;
  /** Of it, what arrived before the release's instant, ms. */
  droppedMs: number;
  /** Chat messages left because the old job's session had them. */
  droppedChats: number;
}

/**
 * Input that reaches a conversation while a hand-off holds it (see `ConversationOptions.hold`): the
 * successor's Live session opens only once the old job closed its own, and what people said or typed
 * meanwhile is not lost. Both jobs were in the room, so both received it: on release, audio is cut at
 * the instant the old job's session stopped taking input (each frame is stamped with its arrival), and
 * chat messages are left when the old job's session had them (by `lk.chat` stream id). Bounded: a
 * hand-off that never ends must not grow a job without limit.
 */
export class HeldInput {
  #audio: HeldAudio[] = [];
  #ms = 0;
  #chats: HeldChat[] = [];

  pushAudio(pcm: Int16Array, sampleRate: number): void {
    this.#audio.push({ pcm, sampleRate, at: Date.now() });
    this.#ms += (pcm.length / sampleRate) * 1000;
    while (this.#ms > MAX_HELD_AUDIO_MS && this.#audio.length > 1) {
      const old = this.#audio.shift()!;
      this.#ms -= (old.pcm.length / old.sampleRate) * 1000;
    }
  }

  chat(from: string, text: string, id: string | undefined): void {
    this.#chats.push({ from, text, id });
    if (this.#chats.length > MAX_HELD_CHATS) this.#chats.shift();
  }

  /**
   * What goes to the model: audio from `at` (epoch ms the old job's session stopped taking input: what
   * it had, it had; the rest is ours), and chat messages whose id is not in `hadIds` (the ids in the old
   * job's final checkpoint: answered, or owed and caught up on). Empties what is held.
   */
  release(at: number, hadIds: ReadonlySet<string>): HeldRelease {
    const held = this.#audio.splice(0);
    const audio: HeldRelease['audio'] = [];
    let dropped = 0;
    for (const f of held) {
      if (f.at < at) dropped += f.pcm.length / f.sampleRate;
      else audio.push({ pcm: f.pcm, sampleRate: f.sampleRate });
    }
    const chats = this.#chats.splice(0);
    const fresh = chats.filter((c) => !c.id || !hadIds.has(c.id));
    const heldMs = this.#ms;
    this.#ms = 0;
    return {
      audio,
      chats: fresh,
      heldMs,
      droppedMs: dropped * 1000,
      droppedChats: chats.length - fresh.length,
    };
  }
}
