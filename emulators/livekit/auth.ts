import type { IncomingMessage } from 'node:http';
import { RoomConfiguration } from '@livekit/protocol';
import { decodeJwt, SignJWT } from 'jose';
import { type ClaimGrants, TokenVerifier } from 'livekit-server-sdk';
import { z } from 'zod';
import type { ApiKeys } from './api-keys.ts';

/** A rejected credential: the HTTP status and the reason LiveKit clients surface to users. */
export class AuthError extends Error {
  readonly status: number;
  constructor(status: number, reason: string) {
    super(reason);
    this.name = 'AuthError';
    this.status = status;
  }
}

/** What a verified join token allows. */
export interface JoinGrants {
  identity: string;
  name: string;
  room: string;
  metadata: string;
  attributes: Record<string, string>;
  kind: string;
  canPublish: boolean;
  canSubscribe: boolean;
  canPublishData: boolean;
  canUpdateOwnMetadata: boolean;
  /** Lower-case track source names (`microphone`, `camera`, …); empty = all sources. */
  canPublishSources: string[];
  hidden: boolean;
  agent: boolean;
  /** Explicit agent dispatches requested through the token (`roomConfig.agents`). */
  agents: { agentName: string; metadata: string }[];
  /** Token expiry (seconds since epoch). */
  expiresAt: number;
  /** API key that signed the token (the key refreshed tokens are signed with). */
  issuer: string;
  /** The verified claims, the template of refreshed tokens. */
  claims: ClaimGrants;
}

const flag = z.boolean().nullish();
const text = z.string().nullish();

/**
 * The claims a join reads, typed as livekit-server's Go structs type them: a value of another JSON type
 * makes the token invalid there, and here it would reach room state and every protobuf message built
 * from it (an object as an attribute value, a number as the room name). Other claims are left alone.
 */
const JoinClaims = z.looseObject({
  sub: text,
  name: text,
  metadata: text,
  kind: text,
  attributes: z.record(z.string(), z.string()).nullish(),
  video: z
    .looseObject({
      room: text,
      roomJoin: flag,
      canPublish: flag,
      canSubscribe: flag,
      canPublishData: flag,
      canUpdateOwnMetadata: flag,
      canPublishSources: z.array(z.string()).nullish(),
      hidden: flag,
      agent: flag,
    })
    .nullish(),
});

/** Token from `Authorization: Bearer` (Rust SDK) or `?access_token=` (livekit-client). */
export function tokenFromRequest(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) return header.slice(7).trim();
  return url.searchParams.get('access_token') ?? undefined;
}

/** Verifies signature, issuer and expiry against the configured key pairs; returns the raw claims. */
export async function verifyToken(token: string | undefined, keys: ApiKeys): Promise<ClaimGrants> {
  if (!token) throw new AuthError(401, 'no authorization token provided');
  let issuer: string | undefined;
  try {
    issuer = decodeJwt(token).iss;
  } catch {
    throw new AuthError(401, 'invalid token: malformed JWT');
  }
  const secret = issuer ? keys.get(issuer) : undefined;
  if (!issuer || secret === undefined) throw new AuthError(401, 'invalid token: unknown API key');
  try {
    return await new TokenVerifier(issuer, secret).verify(token, 0);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED') throw new AuthError(401, 'invalid token: token is expired');
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED')
      throw new AuthError(401, `invalid token: ${(err as Error).message}`);
    throw new AuthError(401, 'invalid token: signature verification failed');
  }
}

/** Verifies a token for `/rtc` and checks the grants a join needs. */
export async function verifyJoinToken(
  token: string | undefined,
  keys: ApiKeys,
  requestedRoom?: string | null,
): Promise<JoinGrants> {
  const claims = await verifyToken(token, keys);
  const typed = JoinClaims.safeParse(claims);
  if (!typed.success) {
    const field = typed.error.issues[0]?.path.join('.') ?? '';
    throw new AuthError(401, `invalid token: claim "${field}" has the wrong type`);
  }
  const { sub, name, metadata, kind, attributes } = typed.data;
  const video = typed.data.video ?? {};
  if (!video.roomJoin) throw new AuthError(401, 'permission denied: token has no roomJoin grant');
  if (!video.room) throw new AuthError(401, 'permission denied: token names no room');
  if (requestedRoom && requestedRoom !== video.room)
    throw new AuthError(401, `permission denied: token is for room "${video.room}", not "${requestedRoom}"`);
  const identity = sub ?? '';
  if (!identity) throw new AuthError(401, 'invalid token: identity (sub) is required to join');
  let agents: JoinGrants['agents'] = [];
  if (claims.roomConfig) {
    try {
      const config = RoomConfiguration.fromJson(claims.roomConfig as never, { ignoreUnknownFields: true });
      agents = config.agents.map((a) => ({ agentName: a.agentName, metadata: a.metadata }));
    } catch {
      throw new AuthError(401, 'invalid token: roomConfig is not a RoomConfiguration');
    }
  }
  return {
    identity,
    name: name ?? '',
    room: video.room,
    metadata: metadata ?? '',
    attributes: { ...attributes },
    kind: kind ?? '',
    canPublish: video.canPublish ?? true,
    canSubscribe: video.canSubscribe ?? true,
    canPublishData: video.canPublishData ?? true,
    canUpdateOwnMetadata: video.canUpdateOwnMetadata ?? false,
    canPublishSources: (video.canPublishSources ?? []).map((s) => s.toLowerCase()),
    hidden: video.hidden ?? false,
    agent: video.agent ?? false,
    agents,
    expiresAt: claims.exp ?? 0,
    issuer: claims.iss ?? '',
    claims,
  };
}

/**
 * A fresh token with the same grants, for the `refreshToken` signal message: clients reconnect with the
 * latest one they got, so a session outlives the token it joined with. `roomConfig` is left out: its
 * agent dispatches were for creating the room and must not repeat on a reconnect.
 */
export async function mintRefreshToken(
  grants: JoinGrants,
  keys: ApiKeys,
  ttlSeconds: number,
): Promise<string | undefined> {
  const secret = keys.get(grants.issuer);
  if (secret === undefined) return undefined;
  const { exp: _exp, nbf: _nbf, iat: _iat, roomConfig: _roomConfig, ...claims } = grants.claims;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setNotBefore(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
