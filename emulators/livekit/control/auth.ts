import type { ClaimGrants } from 'livekit-server-sdk';
import type { ApiKeys } from '../api-keys.ts';
import { AuthError, verifyToken } from '../auth.ts';

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
 * Verifies `Authorization: Bearer <jwt>` the way `/rtc` verifies join tokens: the issuer must be one
 * of the configured keys, then signature, expiry and not-before are checked by `livekit-server-sdk`.
 */
export async function verifyBearer(header: string | undefined, keys: ApiKeys): Promise<ClaimGrants> {
  if (!header) throw new AuthFailure('missing authorization header');
  if (!/^bearer /i.test(header))
    throw new AuthFailure('invalid authorization header, must start with Bearer');
  try {
    return await verifyToken(header.slice(7).trim(), keys);
  } catch (err) {
    if (err instanceof AuthError) throw new AuthFailure(err.message);
    throw err;
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
