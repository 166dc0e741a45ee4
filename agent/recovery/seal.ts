import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The recovery marker: what a worker puts in the dispatch metadata of a dispatch that brings an agent
 * back, and the new job trusts only once its MAC checks out. Clients cannot read dispatch metadata,
 * but they can forge it (a token's `roomConfig.agents`, research §2), so the marker is authenticated
 * with a key only workers hold (derived from the checkpoint secret: `AGENT_CHECKPOINT_SECRET`, else the
 * LiveKit API secret), bound to its room and agent name, and short-lived. It is not encrypted: nothing
 * in it is secret from the worker's own deployment.
 */

/** The top-level key of the dispatch metadata JSON that carries the sealed marker. */
export const RECOVERY_METADATA_KEY = 'gemini.recovery';
/** A marker older than this is refused: a recovery dispatch is taken within seconds, or never. */
export const RECOVERY_MAX_AGE_MS = 10 * 60_000;
/** Sealed markers larger than this are refused unread (LiveKit's metadata limits are 64 KiB and up). */
const MAX_SEALED_CHARS = 96 * 1024;
const VERSION = 'r1';

const recoverySchema = z.object({
  room: z.string(),
  agentName: z.string(),
  /** The job that died, and its agent's identity (which may linger in the room for a while). */
  from: z.object({ jobId: z.string(), identity: z.string() }),
  /** `job`: its process died and its worker asked; `worker`: the worker died and another one asked. */
  cause: z.enum(['job', 'worker']),
  /** 1 for the first recovery of the room's conversation. */
  attempt: z.number().int().positive(),
  /** Epoch ms it was sealed. */
  at: z.number(),
  /** The dispatch metadata of the job that died: the new job's per-room configuration. */
  metadata: z.string(),
});

export type Recovery = z.infer<typeof recoverySchema>;

export type RecoveryRefusal = 'malformed' | 'tampered' | 'foreign room or agent' | 'expired';

/** A recovery marker that cannot be trusted. */
export class RecoveryError extends Error {
  readonly reason: RecoveryRefusal;
  constructor(reason: RecoveryRefusal) {
    super(`recovery marker refused: ${reason}`);
    this.reason = reason;
  }
}

/** The MAC key, from the workers' secret (HKDF-SHA256, its own `info`: never the secret itself). */
export function recoveryKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', 'gemini-livekit recovery v1', 32));
}

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(`${VERSION}.${payload}`).digest();
}

/** `r1.<payload>.<mac>`, both base64url. */
export function sealRecovery(r: Recovery, key: Buffer): string {
  const payload = Buffer.from(JSON.stringify(recoverySchema.parse(r))).toString('base64url');
  return `${VERSION}.${payload}.${mac(key, payload).toString('base64url')}`;
}

/**
 * Verifies a sealed marker for this room and agent; throws {@link RecoveryError}. `anyAge`: a worker
 * reading an older recovery dispatch back (to recover it again) accepts any age.
 */
export function openRecovery(
  sealed: string,
  key: Buffer,
  bind: { room: string; agentName: string },
  o: { now?: number; anyAge?: boolean } = {},
): Recovery {
  const now = o.now ?? Date.now();
  if (sealed.length > MAX_SEALED_CHARS) throw new RecoveryError('malformed');
  const [version, payload, tag, ...rest] = sealed.split('.');
  if (version !== VERSION || !payload || !tag || rest.length) throw new RecoveryError('malformed');
  const want = mac(key, payload);
  const got = Buffer.from(tag, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new RecoveryError('tampered');
  let r: Recovery;
  try {
    r = recoverySchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    throw new RecoveryError('malformed');
  }
  if (r.room !== bind.room || r.agentName !== bind.agentName)
    throw new RecoveryError('foreign room or agent');
  if (!o.anyAge && Math.abs(now - r.at) > RECOVERY_MAX_AGE_MS) throw new RecoveryError('expired');
  return r;
}

/** The dispatch metadata of a recovery dispatch. */
export function recoveryMetadata(sealed: string): string {
  return JSON.stringify({ [RECOVERY_METADATA_KEY]: sealed });
}

/**
 * The sealed marker a dispatch's metadata claims to carry (any JSON object holding the key), or
 * undefined for an ordinary dispatch. A claim is not a proof: {@link openRecovery} decides.
 */
export function claimedRecovery(metadata: string | undefined): string | undefined {
  if (!metadata?.trimStart().startsWith('{')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(metadata);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v) || !(RECOVERY_METADATA_KEY in v)) return undefined;
  const sealed = (v as Record<string, unknown>)[RECOVERY_METADATA_KEY];
  // A claim that is not even a string is still a claim, and is refused as malformed.
  return typeof sealed === 'string' ? sealed : '';
}
