import { ConfigError, issueLine } from '../error.ts';
import { bool, num, str } from './parse.ts';

/**
 * Conversation checkpoints (docs/recovery.md):
 * - `AGENT_CHECKPOINT` — keep a sealed checkpoint of each conversation in room metadata, and resume from
 *   one when a job starts in its room (default true).
 * - `AGENT_CHECKPOINT_SECRET` — the secret the checkpoint key is derived from (at least 32 characters);
 *   `LIVEKIT_API_SECRET` when unset. Every worker that may resume another's conversations needs the same.
 * - `AGENT_CHECKPOINT_INTERVAL_MS` — shortest time between two checkpoint writes of a job, ms (default
 *   3000; LiveKit asks for metadata updates no more often than every few seconds).
 */
export interface CheckpointSettings {
  enabled: boolean;
  /** Never logged; the key is derived from it (agent/checkpoint/key.ts). */
  secret: string;
  intervalMs: number;
}

export function checkpointSettings(env: NodeJS.ProcessEnv, livekitApiSecret: string): CheckpointSettings {
  const problems: string[] = [];
  const enabled = bool(env.AGENT_CHECKPOINT) ?? true;
  if (typeof enabled !== 'boolean') problems.push(issueLine('AGENT_CHECKPOINT', 'must be true or false'));
  const own = str(env.AGENT_CHECKPOINT_SECRET);
  if (own !== undefined && own.length < 32)
    problems.push(issueLine('AGENT_CHECKPOINT_SECRET', 'must be at least 32 characters'));
  const interval = num(env.AGENT_CHECKPOINT_INTERVAL_MS) ?? 3000;
  if (!Number.isInteger(interval) || interval < 0 || interval > 600_000)
    problems.push(issueLine('AGENT_CHECKPOINT_INTERVAL_MS', 'must be an integer from 0 to 600000'));
  if (problems.length)
    throw new ConfigError(`invalid checkpoint settings (environment):\n${problems.join('\n')}`);
  return { enabled: enabled === true, secret: own ?? livekitApiSecret, intervalMs: interval };
}
