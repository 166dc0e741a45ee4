import { decodeJwt } from 'jose';
import { type ClaimGrants, TokenVerifier } from 'livekit-server-sdk';

/** A credential that could not be verified (answered 401 / `unauthenticated`). */
export class AuthFailure extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'AuthFailure';
  }
}

/** A verified credential that lacks the grant an operation needs (403 / `permission_denied`). */
export class PermissionDenied extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'PermissionDenied';
  }
}

/**
 * Verifies `Authorization: Bearer <jwt>` against the configured key pairs: the issuer picks the
 * secret, then signature, expiry and not-before are checked by `livekit-server-sdk`.
 */
export async function verifyBearer(
  header: string | undefined,
  keys: Record<string, string>,
): Promise<ClaimGrants> {
  if (!header) throw new AuthFailure('missing authorization header');
  if (!/^bearer /i.test(header))
    throw new AuthFailure('invalid authorization header, must start with Bearer');
  const token = header.slice(7).trim();
  let issuer: string | undefined;
  try {
    issuer = decodeJwt(token).iss;
  } catch {
    throw new AuthFailure('invalid authorization token');
  }
  const secret = issuer !== undefined && Object.hasOwn(keys, issuer) ? keys[issuer] : undefined;
  if (issuer === undefined || secret === undefined) throw new AuthFailure(`invalid API key: ${issuer ?? ''}`);
  try {
    return await new TokenVerifier(issuer, secret).verify(token, 0);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED') throw new AuthFailure('invalid token: token is expired');
    throw new AuthFailure('invalid token: verification failed');
  }
}

/** CreateRoom / DeleteRoom. */
export function requireRoomCreate(claims: ClaimGrants): void {
  if (!claims.video?.roomCreate) throw new PermissionDenied('permissions denied: roomCreate grant required');
}

/** ListRooms. */
export function requireRoomList(claims: ClaimGrants): void {
  if (!claims.video?.roomList) throw new PermissionDenied('permissions denied: roomList grant required');
}

/** Participant, data and dispatch calls: roomAdmin for exactly this room. */
export function requireRoomAdmin(claims: ClaimGrants, room: string): void {
  if (!claims.video?.roomAdmin) throw new PermissionDenied('permissions denied: roomAdmin grant required');
  if (claims.video.room !== room)
    throw new PermissionDenied(`permissions denied: token is not for room "${room}"`);
}
