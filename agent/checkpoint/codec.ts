import { open, seal } from './aead.ts';
import { CHECKPOINT_VERSION, type Checkpoint, checkpointSchema, dropOldestTurn } from './state.ts';

/**
 * Largest sealed checkpoint, bytes: 16 KiB, far under every LiveKit metadata limit (livekit-server's
 * room metadata default is 512 KiB since 2026-06, 64,000 bytes before; the dev server keeps 64,000), so
 * the room's own metadata keeps the rest.
 */
export const MAX_CHECKPOINT_BYTES = 16 * 1024;

const PREFIX = `cp${CHECKPOINT_VERSION}.`;

/** Why a sealed checkpoint was refused. */
export type CheckpointRefusal =
  /** Not a checkpoint at all, or its version is one this worker cannot read. */
  | 'version'
  /** Larger than {@link MAX_CHECKPOINT_BYTES}. */
  | 'too large'
  /** Authentication failed: changed after sealing, or sealed with another key. */
  | 'tampered'
  /** Authentic, but for another room or another agent name. */
  | 'foreign'
  /** Authentic, but older than the reader accepts. */
  | 'expired'
  /** Authentic, but its content does not match the schema (a bug, or a newer writer). */
  | 'invalid';

/** A checkpoint that must not be used; `reason` is safe to log (it holds nothing of the checkpoint). */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  readonly reason: CheckpointRefusal;
  constructor(reason: CheckpointRefusal, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The room and agent a checkpoint belongs to. */
export interface CheckpointBinding {
  room: string;
  agentName: string;
}

/** The additional data GCM authenticates: the format version, so a reader of another version fails closed. */
const AAD = Buffer.from(`gemini-livekit checkpoint v${CHECKPOINT_VERSION}`);

/**
 * Seals a checkpoint: AES-256-GCM with a random 96-bit IV, as `cp1.` + base64url(iv ‖ ciphertext ‖ tag).
 * The room and agent name inside the (authenticated) plaintext bind it: `openCheckpoint` refuses it
 * anywhere else. Not compressed: the plaintext mixes user speech with the resumption handle, and
 * compression would let its length (visible to everyone in the room) tell something of the handle.
 */
export function sealCheckpoint(cp: Checkpoint, key: Buffer, bind: CheckpointBinding): string {
  const body = { ...cp, v: CHECKPOINT_VERSION, room: bind.room, agentName: bind.agentName };
  return PREFIX + seal(JSON.stringify(body), key, AAD);
}

/**
 * Seals a checkpoint within {@link MAX_CHECKPOINT_BYTES}, dropping transcript turns oldest first (from
 * the longest tail) until it fits. Throws {@link CheckpointError} `too large` when even without any
 * transcript it does not (a room configuration of several KiB). `cp` is trimmed in place.
 */
export function sealBounded(
  cp: Checkpoint,
  key: Buffer,
  bind: CheckpointBinding,
  max = MAX_CHECKPOINT_BYTES,
): string {
  for (;;) {
    const sealed = sealCheckpoint(cp, key, bind);
    if (sealed.length <= max) return sealed;
    if (!dropOldestTurn(cp))
      throw new CheckpointError('too large', `checkpoint is ${sealed.length} bytes without any transcript`);
  }
}

/** Options of {@link openCheckpoint}. */
export interface OpenOptions {
  /** Refuse a checkpoint written longer ago than this, ms; no age limit when unset. */
  maxAgeMs?: number;
  /** Now, ms since the epoch (tests). */
  now?: number;
}

/**
 * Opens a sealed checkpoint for `bind`. Throws {@link CheckpointError} when it cannot be used: not a
 * version this worker reads, too large, tampered or sealed with another key, for another room or
 * agent name, older than `maxAgeMs`, or not a valid checkpoint.
 */
export function openCheckpoint(
  sealed: string,
  key: Buffer,
  bind: CheckpointBinding,
  o: OpenOptions = {},
): Checkpoint {
  if (typeof sealed !== 'string' || !sealed.startsWith(PREFIX)) {
    const v = typeof sealed === 'string' ? /^cp(\d+)\./.exec(sealed)?.[1] : undefined;
    throw new CheckpointError(
      'version',
      v ? `checkpoint version ${v} is not readable here` : 'not a checkpoint',
    );
  }
  if (sealed.length > MAX_CHECKPOINT_BYTES)
    throw new CheckpointError(
      'too large',
      `checkpoint of ${sealed.length} bytes is over ${MAX_CHECKPOINT_BYTES}`,
    );
  const opened = open(sealed.slice(PREFIX.length), key, AAD);
  if ('refused' in opened)
    throw new CheckpointError(
      'tampered',
      opened.refused === 'truncated'
        ? 'checkpoint is truncated'
        : 'checkpoint failed authentication (changed, or sealed with another key)',
    );
  let value: unknown;
  try {
    value = JSON.parse(opened.plain.toString('utf8'));
  } catch {
    throw new CheckpointError('invalid', 'checkpoint is not JSON');
  }
  const parsed = checkpointSchema.safeParse(value);
  if (!parsed.success) throw new CheckpointError('invalid', 'checkpoint does not match its schema');
  const cp = parsed.data;
  if (cp.room !== bind.room) throw new CheckpointError('foreign', 'checkpoint belongs to another room');
  if (cp.agentName !== bind.agentName)
    throw new CheckpointError('foreign', 'checkpoint belongs to another agent name');
  if (o.maxAgeMs !== undefined && (o.now ?? Date.now()) - cp.writtenAt > o.maxAgeMs)
    throw new CheckpointError('expired', 'checkpoint is older than accepted');
  return cp;
}
