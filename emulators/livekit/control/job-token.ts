import type { AvailabilityResponse } from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import type { ApiKeys } from '../api-keys.ts';
import type { WorkerConnection } from './worker-connection.ts';

/** livekit-server's `agent.AgentNameAttributeKey`. */
export const AGENT_NAME_ATTRIBUTE = 'lk.agent_name';
/** Job tokens outlive any dev session; LiveKit issues agent tokens for about an hour as well. */
const JOB_TOKEN_TTL = '1h';

/**
 * The token a job's agent joins its room with: identity, name, metadata and attributes from the
 * worker's availability answer plus `lk.agent_name`, permissions from the worker's registration,
 * signed with the key pair the worker authenticated with (rejects when that key is gone).
 */
export async function jobToken(
  keys: ApiKeys,
  w: WorkerConnection,
  job: { room: string; agentName: string; identity: string },
  answer: Pick<AvailabilityResponse, 'participantName' | 'participantMetadata' | 'participantAttributes'>,
): Promise<string> {
  const secret = keys.get(w.apiKey);
  if (secret === undefined) throw new Error('the worker API key is no longer configured');
  const at = new AccessToken(w.apiKey, secret, {
    identity: job.identity,
    name: answer.participantName || undefined,
    metadata: answer.participantMetadata || undefined,
    // livekit-server (`BuildAgentToken`) names the agent in its attributes: clients and other agents
    // tell which agent a participant is by it.
    attributes: { ...answer.participantAttributes, [AGENT_NAME_ATTRIBUTE]: job.agentName },
    ttl: JOB_TOKEN_TTL,
  });
  const p = w.permissions;
  at.addGrant({
    room: job.room,
    roomJoin: true,
    agent: true,
    canPublish: p?.canPublish ?? true,
    canSubscribe: p?.canSubscribe ?? true,
    canPublishData: p?.canPublishData ?? true,
    canUpdateOwnMetadata: p?.canUpdateMetadata ?? true,
    hidden: p?.hidden ?? false,
  });
  at.kind = 'agent';
  return at.toJwt();
}
