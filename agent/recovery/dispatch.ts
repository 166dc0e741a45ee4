import { type ParticipantInfo, ParticipantInfo_Kind } from '@livekit/protocol';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import type { Logger } from '../log.ts';
import { claimedRecovery, type Recovery, recoveryMetadata, sealRecovery } from './seal.ts';

/** livekit-server's `agent.AgentNameAttributeKey`, set on every agent participant's token. */
export const AGENT_NAME_ATTRIBUTE = 'lk.agent_name';

/** The worker's LiveKit access (roomAdmin: RoomService and the dispatch API). */
export interface LiveKitAccess {
  url: string;
  apiKey: string;
  apiSecret: string;
}

/** Clients made once per worker. */
export interface RecoveryClients {
  rooms: RoomServiceClient;
  dispatch: AgentDispatchClient;
}

export function recoveryClients(lk: LiveKitAccess): RecoveryClients {
  return {
    rooms: new RoomServiceClient(lk.url, lk.apiKey, lk.apiSecret),
    dispatch: new AgentDispatchClient(lk.url, lk.apiKey, lk.apiSecret),
  };
}

/** People keep a room (and a conversation) alive; agents and egress do not (livekit-server's `IsDependent`). */
export function isHuman(p: ParticipantInfo): boolean {
  return p.kind !== ParticipantInfo_Kind.AGENT && p.kind !== ParticipantInfo_Kind.EGRESS;
}

/** An agent of `agentName` in the list other than those `ignore` names (the dead one, ourselves). */
export function liveAgentOf(
  participants: Iterable<{ identity: string; kind: number; attributes: Record<string, string> }>,
  agentName: string,
  ignore: readonly string[],
): string | undefined {
  for (const p of participants) {
    if (p.kind !== ParticipantInfo_Kind.AGENT || ignore.includes(p.identity)) continue;
    if ((p.attributes[AGENT_NAME_ATTRIBUTE] ?? '') === agentName) return p.identity;
  }
  return undefined;
}

/** What {@link recoverRoom} did. */
export type RecoveryOutcome = 'dispatched' | 'no people' | 'agent present' | 'limit reached' | 'failed';

/** Options of {@link recoverRoom}. */
export interface RecoverRoomOptions {
  clients: RecoveryClients;
  key: Buffer;
  room: string;
  agentName: string;
  /** The job that died and its agent identity. */
  from: Recovery['from'];
  cause: Recovery['cause'];
  /** The dead job's own dispatch metadata (its configuration), unsealed. */
  metadata: string;
  /** `AGENT_RECOVERY_MAX`: recovery dispatches per room at most. */
  max: number;
  logger: Logger;
}

/**
 * Brings an agent back into a room whose job died: when people are still there and no other agent of
 * this name is, asks the dispatch API for a new dispatch of the same agent, its metadata the sealed
 * recovery marker (which carries the dead job's configuration). The dead agent's participant, if it
 * still lingers (a killed process stays visible until the server gives up on its connection), is
 * removed first, so people see one agent leave and one come. Bounded: the room's recovery dispatches
 * are counted from the dispatch API, which keeps them as long as the room lives. Never throws.
 */
export async function recoverRoom(o: RecoverRoomOptions): Promise<RecoveryOutcome> {
  const log = o.logger.child({ room: o.room, cause: o.cause, from: o.from.identity });
  try {
    let participants: ParticipantInfo[];
    try {
      participants = await o.clients.rooms.listParticipants(o.room);
    } catch {
      // The room is gone (closed, deleted): nobody to bring the agent back to.
      participants = [];
    }
    if (!participants.some(isHuman)) {
      log.info('job died in a room without people: not recovered');
      return 'no people';
    }
    const present = liveAgentOf(participants, o.agentName, [o.from.identity]);
    if (present) {
      log.info({ present }, 'job died but another agent of this name is in the room: not recovered');
      return 'agent present';
    }
    const ours = (await o.clients.dispatch.listDispatch(o.room)).filter((d) => d.agentName === o.agentName);
    const attempts = ours.filter((d) => claimedRecovery(d.metadata) !== undefined).length;
    if (attempts >= o.max) {
      log.warn({ attempts, max: o.max }, 'job died: not recovered (AGENT_RECOVERY_MAX reached in this room)');
      return 'limit reached';
    }
    if (participants.some((p) => p.identity === o.from.identity)) {
      await o.clients.rooms.removeParticipant(o.room, o.from.identity).catch(() => {});
    }
    const sealed = sealRecovery(
      {
        room: o.room,
        agentName: o.agentName,
        from: o.from,
        cause: o.cause,
        attempt: attempts + 1,
        at: Date.now(),
        metadata: o.metadata,
      },
      o.key,
    );
    const d = await o.clients.dispatch.createDispatch(o.room, o.agentName, {
      metadata: recoveryMetadata(sealed),
    });
    log.info({ dispatch: d.id, attempt: attempts + 1 }, 'recovery: asked for a new dispatch of this agent');
    return 'dispatched';
  } catch (err) {
    log.error({ err: String(err) }, 'recovery: could not ask for a new dispatch');
    return 'failed';
  }
}
