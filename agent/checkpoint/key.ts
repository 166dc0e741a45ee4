import { hkdfSync } from 'node:crypto';

/** HKDF `info` of the checkpoint key: a new value (v2) gives every worker a new key at once. */
const INFO = 'gemini-livekit checkpoint v1';

/**
 * The 32-byte AES-256-GCM key that seals checkpoints, derived with HKDF-SHA256 from the worker's secret:
 * `AGENT_CHECKPOINT_SECRET` when set, else `LIVEKIT_API_SECRET` (agent/config/env.ts decides which). Every
 * worker of a deployment derives the same key, so any of them can resume another's conversation; the
 * secret itself never leaves the worker, and the derived key is good for nothing else.
 */
export function checkpointKey(secret: string): Buffer {
  if (!secret) throw new TypeError('checkpoint secret is empty');
  return Buffer.from(hkdfSync('sha256', secret, '', INFO, 32));
}
