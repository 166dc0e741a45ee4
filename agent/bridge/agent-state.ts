import type { Room } from '@livekit/rtc-node';
import type { Logger } from '../log.ts';
import type { AgentState } from './conversation-types.ts';

/** Participant attribute LiveKit frontends read the agent's state from. */
export const ATTR_AGENT_STATE = 'lk.agent.state';
/** Set next to `lk.agent.state = failed`: why the agent cannot talk. */
export const ATTR_AGENT_ERROR = 'lk.agent.error';
/** `floor` policy: identity of the participant holding the floor ('' when free). */
export const ATTR_AGENT_FLOOR = 'lk.agent.floor';
/** `'true'` in push-to-talk rooms: clients show a hold-to-talk control that calls `ptt.start`/`ptt.end`. */
export const ATTR_AGENT_PUSH_TO_TALK = 'lk.agent.push_to_talk';

/** Options of {@link AgentAttributes}. */
export interface AgentAttributesOptions {
  room: Room;
  /** Push-to-talk room: every state write carries `lk.agent.push_to_talk = 'true'`. */
  pushToTalk: boolean;
  logger: Logger;
  /** Called with each new state, before it is written. */
  onState?: (state: AgentState) => void;
}

/** Which of several conversations' states the room shows: the busiest. */
const PRECEDENCE: AgentState[] = ['speaking', 'thinking', 'listening', 'initializing', 'failed'];

/**
 * The agent's `lk.agent.*` participant attributes, the only writer of them: what clients see of the
 * agent's state, why it failed, who holds the floor and whether the room is push-to-talk. A value that
 * did not change is not written again; nothing is written while the room is disconnected.
 */
export class AgentAttributes {
  readonly #o: AgentAttributesOptions;
  #state: AgentState | undefined;
  #floor: string | undefined;

  constructor(o: AgentAttributesOptions) {
    this.#o = o;
  }

  /** The state shown last. */
  get state(): AgentState | undefined {
    return this.#state;
  }

  /**
   * The room's state from its conversations' (none: `listening`, all failed: `failed`). `error` goes
   * with `failed`.
   */
  showCombined(states: AgentState[], error: string | undefined): Promise<void> {
    const state = states.length ? (PRECEDENCE.find((s) => states.includes(s)) ?? 'failed') : 'listening';
    return this.show(state, error);
  }

  /** Shows `state` (and `error` with `failed`); resolves once written. */
  async show(state: AgentState, error?: string): Promise<void> {
    if (this.#state === state) return;
    this.#state = state;
    this.#o.onState?.(state);
    const attrs: Record<string, string> = { [ATTR_AGENT_STATE]: state };
    if (this.#o.pushToTalk) attrs[ATTR_AGENT_PUSH_TO_TALK] = 'true';
    if (state === 'failed') attrs[ATTR_AGENT_ERROR] = error ?? 'unknown error';
    await this.#write(attrs)?.catch((err) =>
      this.#o.logger.warn({ err: String(err) }, 'cannot set agent state'),
    );
  }

  /** `floor` policy: who holds the floor (`undefined`: free). */
  showFloor(identity: string | undefined): void {
    if (this.#floor === identity) return;
    this.#floor = identity;
    void this.#write({ [ATTR_AGENT_FLOOR]: identity ?? '' })?.catch(() => {});
  }

  #write(attrs: Record<string, string>): Promise<void> | undefined {
    const lp = this.#o.room.localParticipant;
    if (!lp || !this.#o.room.isConnected) return undefined;
    return lp.setAttributes(attrs);
  }
}
