import { frameMs, type PcmFrame } from '../audio/frame.ts';
import type { Conversation } from './conversation.ts';
import { InputMixer } from './mixer.ts';
import type { TalkerTracker } from './talkers.ts';

/** Where a participant's frames go once the push-to-talk gate let them through: one per policy. */
export interface InputRoute {
  /** `per-participant`: every participant has a conversation of their own. */
  readonly private: boolean;
  /** The `floor` holder (other routes have none). */
  readonly floor: string | undefined;
  join(identity: string, conversation?: Conversation): void;
  /** The participant left or their microphone went away. */
  drop(identity: string, left: boolean): void;
  frame(identity: string, frame: PcmFrame, talking: boolean): void;
  /** The conversation a participant's input goes to. */
  conversationOf(identity: string): Conversation | undefined;
}

/** `per-participant`: each participant's frames straight into their own conversation. */
export class PrivateRoute implements InputRoute {
  readonly private = true;
  readonly floor = undefined;
  readonly #conversations = new Map<string, Conversation>();

  join(identity: string, conversation?: Conversation): void {
    if (conversation) this.#conversations.set(identity, conversation);
  }

  drop(identity: string, left: boolean): void {
    if (left) this.#conversations.delete(identity);
  }

  frame(identity: string, frame: PcmFrame): void {
    this.#conversations.get(identity)?.pushAudio(frame.data, frame.sampleRate);
  }

  conversationOf(identity: string): Conversation | undefined {
    return this.#conversations.get(identity);
  }
}

/** `shared` (and push-to-talk `floor`): everyone's frames mixed into the one conversation. */
export class MixedRoute implements InputRoute {
  readonly private = false;
  protected readonly mixer: InputMixer;
  readonly #conversation: Conversation;

  constructor(conversation: Conversation) {
    this.#conversation = conversation;
    this.mixer = new InputMixer((f) => conversation.pushAudio(f.data, f.sampleRate));
  }

  get floor(): string | undefined {
    return undefined;
  }

  join(): void {
    // Everyone's input goes to the one conversation: nothing to set up per participant.
  }

  drop(identity: string, _left: boolean): void {
    this.mixer.remove(identity);
  }

  frame(identity: string, frame: PcmFrame, _talking: boolean): void {
    this.mixer.push(identity, frame);
  }

  conversationOf(): Conversation {
    return this.#conversation;
  }
}

/**
 * `floor`: the first to talk holds the floor and only their frames are forwarded, until they have been
 * silent (in audio time) for `releaseMs`; then the next to talk takes it.
 */
export class FloorRoute extends MixedRoute {
  readonly #talkers: TalkerTracker;
  readonly #releaseMs: number;
  readonly #onFloor: (identity: string | undefined) => void;
  #holder: string | undefined;
  /**
   * A holder restored from a checkpoint has no frames here yet: their silence is counted in the
   * others' audio time until their own frames arrive.
   */
  #restoredSilentMs: number | undefined;

  constructor(
    conversation: Conversation,
    o: { talkers: TalkerTracker; releaseMs: number; onFloor: (identity: string | undefined) => void },
  ) {
    super(conversation);
    this.#talkers = o.talkers;
    this.#releaseMs = o.releaseMs;
    this.#onFloor = o.onFloor;
  }

  override get floor(): string | undefined {
    return this.#holder;
  }

  override drop(identity: string, left: boolean): void {
    super.drop(identity, left);
    if (left && this.#holder === identity) this.#set(undefined);
  }

  /**
   * The floor an earlier job's checkpoint names: held again until the usual release (`releaseMs` of
   * the holder's silence, counted in the others' audio until the holder's own frames arrive).
   */
  restore(identity: string): void {
    if (this.#holder) return;
    this.#restoredSilentMs = 0;
    this.#set(identity);
  }

  override frame(identity: string, frame: PcmFrame, talking: boolean): void {
    if (this.#holder === identity) this.#restoredSilentMs = undefined;
    if (this.#holder && this.#holder !== identity) {
      // The holder releases after enough silence; until then others are not heard.
      let silent = this.#talkers.silentFor(this.#holder);
      if (this.#restoredSilentMs !== undefined) silent = this.#restoredSilentMs += frameMs(frame);
      if (silent < this.#releaseMs) return;
      this.#set(undefined);
    }
    if (!this.#holder) {
      if (!talking) return;
      this.#set(identity);
    }
    this.mixer.push(identity, frame);
  }

  #set(identity: string | undefined): void {
    if (this.#holder === identity) return;
    if (identity === undefined) this.#restoredSilentMs = undefined;
    this.#holder = identity;
    this.#onFloor(identity);
  }
}
