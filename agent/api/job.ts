import type { RoomBridge } from '../bridge/room-bridge.ts';
import { ConfigError } from '../config/error.ts';
import {
  mergeLayers,
  type ResolveRoomOptions,
  type RoomConfig,
  type RoomConfigInput,
  resolveRoomConfig,
} from '../config/room.ts';
import type { Logger } from '../log.ts';
import type { ConversationReport } from '../report/types.ts';
import { ToolRegistry } from '../tools/registry.ts';
import type { AgentEventHooks, AgentRoomInfo, GeminiAgent } from './agent.ts';
import { loadAgent } from './load.ts';

/**
 * The agent module as one job uses it: its tools as a registry, its instructions and per-room hook
 * applied to the room's configuration, its report receiver and its event hooks on the bridge.
 */
export class JobAgent {
  readonly tools: ToolRegistry;
  readonly #agent: GeminiAgent;
  readonly #room: AgentRoomInfo;
  readonly #log: Logger;

  private constructor(agent: GeminiAgent, room: AgentRoomInfo, logger: Logger) {
    this.#agent = agent;
    this.#room = room;
    this.#log = logger;
    this.tools = new ToolRegistry([...agent.tools]);
  }

  /** Loads the module (cached by Node's module loader after the first job of a process). */
  static async load(path: string | undefined, room: AgentRoomInfo, logger: Logger): Promise<JobAgent> {
    return new JobAgent(await loadAgent(path), room, logger);
  }

  /** The environment's room defaults with the agent's instructions in place of `AGENT_INSTRUCTIONS`. */
  async defaults(env: RoomConfigInput): Promise<RoomConfigInput> {
    const { instructions } = this.#agent;
    if (instructions === undefined) return env;
    const text = typeof instructions === 'string' ? instructions : await instructions(this.#room);
    if (typeof text !== 'string') throw new ConfigError('agent instructions(room) did not return a string');
    return { ...env, systemInstruction: text };
  }

  /** `resolved` with the agent's `roomConfig(room)` overrides merged over it (they win), validated again. */
  async configure(resolved: RoomConfig, options: ResolveRoomOptions): Promise<RoomConfig> {
    const hook = this.#agent.roomConfig;
    if (!hook) return resolved;
    const overrides = await hook(this.#room, resolved);
    if (!overrides || !Object.keys(overrides).length) return resolved;
    try {
      return resolveRoomConfig(mergeLayers([resolved, overrides]) as RoomConfigInput, {}, options);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`agent roomConfig(room): ${err.message}`);
      throw err;
    }
  }

  /** The agent's report receiver, if any. */
  get onReport(): ((report: ConversationReport) => void | Promise<void>) | undefined {
    return this.#agent.onReport;
  }

  /** Calls the agent's event hooks for every conversation of `bridge`; a hook's failure is logged. */
  attach(bridge: RoomBridge): void {
    const on: AgentEventHooks = this.#agent.on ?? {};
    if (!on.turn && !on.toolCall && !on.sessionEnded) return;
    const room = this.#room.name;
    const call = <A>(name: keyof AgentEventHooks, fn: ((a: A) => unknown) | undefined, arg: A) => {
      if (!fn) return;
      Promise.resolve()
        .then(() => fn(arg))
        .catch((err: unknown) => this.#log.warn({ err: String(err) }, `agent hook on.${name} failed`));
    };
    bridge.on('conversation', (c) => {
      c.on('agentTurn', (text, { interrupted }) => call('turn', on.turn, { room, text, interrupted }));
      c.on('toolFinished', (f) => call('toolCall', on.toolCall, { room, ...f }));
      c.on('closed', () => call('sessionEnded', on.sessionEnded, { room }));
    });
  }
}
