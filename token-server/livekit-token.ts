import { randomBytes } from 'node:crypto';
import { RoomConfiguration } from '@livekit/protocol';
import { AccessToken, type VideoGrant } from 'livekit-server-sdk';
import { type AgentDispatchPolicy, resolveAgentDispatches } from './agent-dispatch.ts';
import { HttpError } from './errors.ts';
import type { AuthIdentity } from './options.ts';
import { reservedPrefixOf } from './reserved-identities.ts';
import type { LiveKitTokenRequest } from './schemas.ts';

/**
 * Body of a `201` from `POST /livekit/token`: LiveKit's `TokenSourceResponse` (`server_url`,
 * `participant_token`) plus the resolved names, which the mobile SDKs read and which tell a client what
 * the server generated for fields it left out.
 */
export interface LiveKitTokenResponse {
  server_url: string;
  participant_token: string;
  room_name: string;
  participant_identity: string;
  participant_name?: string;
}

/** Everything the LiveKit minter needs, resolved from the server options. */
export interface LiveKitMinterConfig {
  livekitUrl: string;
  apiKey: string;
  apiSecret: string;
  ttlSeconds: number;
  grants: Omit<VideoGrant, 'room' | 'roomJoin'>;
  agents: AgentDispatchPolicy;
}

const randomId = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

/** Signs a participant token for one room from a validated request. */
export async function mintLiveKitToken(
  cfg: LiveKitMinterConfig,
  req: LiveKitTokenRequest,
  caller: AuthIdentity,
): Promise<LiveKitTokenResponse> {
  const requestedIdentity = req.participant_identity || undefined;
  const requestedRoom = req.room_name || undefined;
  if (caller.identity !== undefined && requestedIdentity !== undefined) {
    if (requestedIdentity !== caller.identity) {
      throw new HttpError(
        403,
        'identity_not_allowed',
        'participant_identity differs from the authenticated identity',
      );
    }
  }
  const identity = caller.identity ?? requestedIdentity ?? randomId('user');
  // Even an identity the deployer's verifier vouches for: a user named "agent-…" in their system must
  // not be able to push the room's agent out.
  const reserved = reservedPrefixOf(identity);
  if (reserved) {
    throw new HttpError(
      403,
      'identity_not_allowed',
      `participant identities starting with "${reserved.prefix}" are reserved for ${reserved.owner}`,
    );
  }
  let room = requestedRoom ?? randomId('room');
  if (caller.rooms) {
    if (requestedRoom === undefined && caller.rooms[0] !== undefined) room = caller.rooms[0];
    else if (!caller.rooms.includes(room)) {
      throw new HttpError(403, 'room_not_allowed', 'room_name is not one of the rooms this caller may join');
    }
  }

  const agents = resolveAgentDispatches(cfg.agents, req.room_config?.agents);

  const at = new AccessToken(cfg.apiKey, cfg.apiSecret, {
    identity,
    ttl: cfg.ttlSeconds,
    name: req.participant_name || undefined,
    metadata: req.participant_metadata || undefined,
    attributes:
      req.participant_attributes && Object.keys(req.participant_attributes).length
        ? req.participant_attributes
        : undefined,
  });
  at.addGrant({ ...cfg.grants, roomJoin: true, room });
  if (agents.length) at.roomConfig = new RoomConfiguration({ agents });

  const response: LiveKitTokenResponse = {
    server_url: cfg.livekitUrl,
    participant_token: await at.toJwt(),
    room_name: room,
    participant_identity: identity,
  };
  if (req.participant_name) response.participant_name = req.participant_name;
  return response;
}
