import { EventEmitter } from 'node:events';
import type { PcmFrame } from '../audio/frame.ts';
import type { RoomConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Conversation } from './conversation.ts';
import { FloorRoute, type InputRoute, MixedRoute, PrivateRoute } from './input-routes.ts';
import { PushToTalkGate, pushToTalkError } from './push-to-talk.ts';
import { TalkerTracker } from './talkers.ts';

/** Options of an {@link InputPolicy}. */
export interface InputPolicyOptions {
  config: Pick<RoomConfig, 'policy' | 'pushToTalk' | 'floorReleaseMs'>;
  /** The room's one conversation (`shared`, `floor`); `per-participant` ones come with {@link InputPolicy.join}. */
  shared?: Conversation;
  /** How a participant is named in text for the model. */
  name: (identity: string) => string;
  logger: Logger;
}

/** Events of an {@link InputPolicy}. */
export type InputPolicyEvents = {
  /** A participant started or stopped talking (frame energy, whether forwarded or not). */
  talk: [identity: string, talking: boolean];
  /** `floor`: the holder changed (`undefined`: free). */
  floor: [identity: string | undefined];
};

/**
 * What of the participants' audio reaches which Live session, and who is speaking. Every microphone
 * frame passes here once: its talker is tracked, push-to-talk (when on) gates it, then the policy's
 * route takes it to a conversation:
 * - `shared`: all frames mixed into the one session; the model is told who starts speaking;
 * - `floor`: the first to talk holds the floor, the others are not forwarded until it is released;
 * - `per-participant`: each participant's frames into their own session.
 */
export class InputPolicy extends EventEmitter<InputPolicyEvents> {
  readonly #o: InputPolicyOptions;
  readonly #log: Logger;
  readonly #talkers = new TalkerTracker();
  readonly #route: InputRoute;
  /** Participants whose input is taken, in join order. */
  readonly #joined = new Set<string>();
  readonly #ptt: PushToTalkGate | undefined;
  #lastSpeaker: string | undefined;

  constructor(o: InputPolicyOptions) {
    super();
    this.#o = o;
    this.#log = o.logger;
    this.#ptt = o.config.pushToTalk ? new PushToTalkGate() : undefined;
    this.#route = this.#makeRoute();
    if (o.config.policy === 'shared') {
      this.#talkers.onActiveChange = (id) => {
        if (!id || id === this.#lastSpeaker) return;
        this.#lastSpeaker = id;
        if (this.#joined.size > 1) o.shared?.note(`[${o.name(id)} is speaking]`);
      };
    }
  }

  /** The `floor` holder. */
  get floor(): string | undefined {
    return this.#route.floor;
  }

  /** Push-to-talk: who is holding, in the order they pressed (none without push-to-talk). */
  get pushToTalkHolders(): string[] {
    return this.#ptt?.holding ?? [];
  }

  /**
   * The multi-user state of an earlier job's checkpoint, for those who are still here: the floor
   * holder, and the push-to-talk holders (their hold starts again, so their `ptt.end` is answered).
   */
  restore(state: { floor?: string; pushToTalk: readonly string[] }): void {
    if (state.floor && this.#joined.has(state.floor) && this.#route instanceof FloorRoute)
      this.#route.restore(state.floor);
    if (!this.#ptt) return;
    for (const identity of state.pushToTalk) if (this.#joined.has(identity)) this.pushToTalk(identity, true);
  }

  /** Takes `identity`'s input from now on (`per-participant`: into `conversation`). */
  join(identity: string, conversation?: Conversation): void {
    this.#joined.add(identity);
    this.#route.join(identity, conversation);
  }

  /** `identity` left: forgets their talk, hold, mix queue and floor. */
  leave(identity: string): void {
    if (!this.#joined.delete(identity)) return;
    this.#ptt?.release(identity);
    this.#talkers.remove(identity);
    this.#route.drop(identity, true);
  }

  /** `identity`'s microphone went away (they stay). */
  microphoneGone(identity: string): void {
    this.#route.drop(identity, false);
  }

  /** One microphone frame of `identity`. */
  frame(identity: string, frame: PcmFrame): void {
    if (!this.#joined.has(identity)) return;
    const wasTalking = this.#talkers.isTalking(identity);
    const talking = this.#talkers.push(identity, frame);
    if (talking !== wasTalking) {
      this.#log.debug({ participant: identity, talking }, 'talk activity');
      this.emit('talk', identity, talking);
    }
    if (this.#ptt && !this.#ptt.open(identity)) return;
    this.#route.frame(identity, frame, talking);
  }

  /** Whether `identity`'s audio is taken now (joined, and holding in a push-to-talk room). */
  hears(identity: string): boolean {
    return this.#joined.has(identity) && (!this.#ptt || this.#ptt.open(identity));
  }

  /** `ptt.start` (`start`) or `ptt.end` from `identity`; throws the RPC error its caller gets. */
  pushToTalk(identity: string, start: boolean): void {
    if (!this.#ptt) throw pushToTalkError('push-to-talk is not enabled for this room');
    if (!this.#joined.has(identity)) throw pushToTalkError('unknown participant');
    const conv = this.#route.conversationOf(identity);
    // A shared session hears one activity: from the first press to the last release.
    if (start && this.#ptt.press(identity)) {
      this.#lastSpeaker = identity;
      if (this.#route.private || this.#ptt.holders === 1) conv?.pttStart();
    } else if (!start && this.#ptt.release(identity)) {
      if (this.#route.private || this.#ptt.holders === 0) conv?.pttEnd();
    }
  }

  /** Whether `identity` (without it: anyone whose input is taken) is talking now, or holding push-to-talk. */
  talking(identity?: string): boolean {
    const ids = identity === undefined ? [...this.#joined] : [identity];
    const holding = this.pushToTalkHolders;
    return ids.some((id) => this.#talkers.isTalking(id) || holding.includes(id));
  }

  /** A user turn was transcribed: talk time counts afresh for the next turn's author. */
  turnEnded(): void {
    this.#talkers.resetTurn();
  }

  /** Author of the user speech the shared session is hearing. */
  speaker(): string | undefined {
    if (this.#o.config.policy === 'floor') return this.floor ?? this.#lastSpeaker;
    if (this.#ptt) return this.#ptt.latest ?? this.#lastSpeaker;
    return this.#talkers.dominant() ?? this.#lastSpeaker;
  }

  /**
   * Whose camera the shared session sees: the floor holder, else the current talker, else the last
   * speaker, else the first to join; among those `hasVideo`. None in `per-participant`.
   */
  attended(hasVideo: (identity: string) => boolean): string | undefined {
    if (this.#route.private) return undefined;
    for (const c of [this.floor, this.#talkers.active, this.#lastSpeaker]) if (c && hasVideo(c)) return c;
    for (const id of this.#joined) if (hasVideo(id)) return id;
    return undefined;
  }

  #makeRoute(): InputRoute {
    const { config, shared } = this.#o;
    if (config.policy === 'per-participant') return new PrivateRoute();
    if (!shared) throw new Error(`the ${config.policy} policy needs the room's conversation`);
    // Push-to-talk decides who is heard: no floor is taken then.
    if (config.policy === 'shared' || config.pushToTalk) return new MixedRoute(shared);
    return new FloorRoute(shared, {
      talkers: this.#talkers,
      releaseMs: config.floorReleaseMs,
      onFloor: (identity) => {
        this.#log.info({ floor: identity ?? null }, 'floor');
        if (identity) this.#lastSpeaker = identity;
        this.emit('floor', identity);
      },
    });
  }
}
