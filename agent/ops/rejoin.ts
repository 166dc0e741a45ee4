import { AgentDispatchClient } from 'livekit-server-sdk';
import type { Logger } from '../log.ts';

/** Options of {@link requestRejoin}. */
export interface RejoinOptions {
  /** The worker's LiveKit URL and key pair (the dispatch API needs `roomAdmin`, which they carry). */
  livekitUrl: string;
  apiKey: string;
  apiSecret: string;
  room: string;
  /** The job's agent name (`''` for automatic dispatch). */
  agentName: string;
  /** The job's dispatch metadata, passed on so that the new job gets the same per-room overrides. */
  metadata: string;
  /** Most dispatches of this agent a room may get through rejoins (`AGENT_MAX_REJOINS`). */
  max: number;
  logger: Logger;
}

/**
 * Another connection took the agent's identity (`DUPLICATE_IDENTITY`: LiveKit keeps the newest
 * connection of an identity), so the server pushed this job out of its room. A new dispatch of the
 * same agent brings a fresh job, with an identity of its own, into the room. Bounded: the room's
 * dispatches of this agent are counted from the dispatch API (they live as long as the room), and
 * no new one is asked for once the room has its original plus `max`, so two connections fighting
 * over an identity cannot loop. Resolves with whether a dispatch was created; never throws.
 */
export async function requestRejoin(o: RejoinOptions): Promise<boolean> {
  const client = new AgentDispatchClient(o.livekitUrl, o.apiKey, o.apiSecret);
  try {
    const ours = (await client.listDispatch(o.room)).filter((d) => d.agentName === o.agentName);
    // An automatic dispatch may not be listed: then one more rejoin is allowed than counted here.
    if (ours.length > o.max) {
      o.logger.warn(
        { room: o.room, dispatches: ours.length, max: o.max },
        'identity taken again: not asking for another dispatch (AGENT_MAX_REJOINS reached)',
      );
      return false;
    }
    const d = await client.createDispatch(o.room, o.agentName, { metadata: o.metadata });
    o.logger.info({ room: o.room, dispatch: d.id }, 'identity taken: asked for a new dispatch of this agent');
    return true;
  } catch (err) {
    o.logger.error({ room: o.room, err: String(err) }, 'identity taken: could not ask for a new dispatch');
    return false;
  }
}
