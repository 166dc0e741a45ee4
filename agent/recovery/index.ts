import type { Room } from '@livekit/protocol';
import { checkpointKey, openCheckpoint, sealedFromMetadata } from '../checkpoint/index.ts';
import type { RecoverySettings } from '../config/env.ts';
import type { Logger } from '../log.ts';
import type { WorkerMetrics } from '../ops/metrics.ts';
import { type LiveKitAccess, recoveryClients } from './dispatch.ts';
import { watchJobProcesses } from './local.ts';
import { recoveryKey } from './seal.ts';
import { watchRooms } from './watcher.ts';

/**
 * Crash recovery (docs/recovery.md), worker side. OSS livekit-server never re-dispatches a job whose
 * process or worker died (docs/research/agent-recovery.md §1), so the workers do it:
 * - job process died, its worker lives → that worker, at once ({@link watchJobProcesses});
 * - worker died (its job processes with it) → any other worker of the agent name, by polling
 *   ({@link watchRooms}).
 * Each asks for a new dispatch of the same agent into the room with a sealed recovery marker
 * (recovery/seal.ts), which the new job verifies (recovery/job.ts).
 */
export * from './dispatch.ts';
export * from './job.ts';
export * from './seal.ts';

/** Options of {@link startRecovery}. */
export interface RecoveryOptions {
  settings: RecoverySettings;
  /** The worker's load directory (its jobs' records). */
  loadDir: string;
  agentName: string;
  livekit: LiveKitAccess;
  /**
   * The secret only workers hold, the recovery key is derived from: the checkpoint's
   * (`AGENT_CHECKPOINT_SECRET`, else `LIVEKIT_API_SECRET`), so one setting rotates both.
   */
  secret: string;
  logger: Logger;
  /** The worker's metrics: polls and recoveries are counted there. */
  metrics?: WorkerMetrics;
}

/** Starts both watches; returns a stop function. */
export function startRecovery(o: RecoveryOptions): () => void {
  const clients = recoveryClients(o.livekit);
  const key = recoveryKey(o.secret);
  const m = o.metrics;
  const common = {
    clients,
    key,
    max: o.settings.max,
    logger: o.logger,
    onOutcome: (cause: string, outcome: string) => m?.recoveries.inc({ cause, outcome }),
  };
  const stopLocal = watchJobProcesses({ ...common, dir: o.loadDir });
  const stopRooms = watchRooms({
    ...common,
    agentName: o.agentName,
    pollMs: o.settings.pollMs,
    graceMs: o.settings.graceMs,
    // A worker that started after the agent died knows from the room's checkpoint that it was there.
    joined: checkpointOwner(o.secret, o.agentName),
    onPoll: () => m?.recoveryPolls.inc(),
  });
  return () => {
    stopLocal();
    stopRooms();
  };
}

/**
 * Whether the room's checkpoint (agent/checkpoint/) was written by the agent `identity`: proof that it
 * joined, for a watcher that never saw it. Only a checkpoint that opens with the workers' key counts.
 */
function checkpointOwner(secret: string, agentName: string): (room: Room, identity: string) => boolean {
  const key = checkpointKey(secret);
  return (room, identity) => {
    const sealed = sealedFromMetadata(room.metadata, agentName);
    if (sealed === undefined) return false;
    try {
      return openCheckpoint(sealed, key, { room: room.name, agentName }).owner.identity === identity;
    } catch {
      return false;
    }
  };
}
