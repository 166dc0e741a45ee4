import type { Room } from '@livekit/rtc-node';
import { liveAgentOf } from './dispatch.ts';
import { claimedRecovery, openRecovery, type Recovery, RecoveryError, type RecoveryRefusal } from './seal.ts';

/** How a job starts, from its dispatch metadata. */
export type JobStart =
  /** `metadata`: the configuration to use (a recovery's original one); `recovery`: set for a verified recovery. */
  | { metadata: string; recovery?: Recovery }
  /** The metadata claims a recovery that does not verify: the job must not run. */
  | { refused: RecoveryRefusal };

/**
 * Job side, before joining: an ordinary dispatch runs with its metadata; a recovery dispatch runs
 * with the configuration sealed in it, once its marker verifies for this room and agent name. A claim
 * that does not verify (forged through a client token's `roomConfig.agents`, replayed from another
 * room, expired) is refused: the job ends without joining, so a client cannot make an agent believe
 * it is continuing a conversation.
 */
export function readJobStart(
  jobMetadata: string,
  key: Buffer,
  bind: { room: string; agentName: string },
): JobStart {
  const sealed = claimedRecovery(jobMetadata);
  if (sealed === undefined) return { metadata: jobMetadata };
  try {
    const recovery = openRecovery(sealed, key, bind);
    return { metadata: recovery.metadata, recovery };
  } catch (err) {
    if (err instanceof RecoveryError) return { refused: err.reason };
    throw err;
  }
}

/**
 * Job side, once joined as a recovery: another live agent of the same name already in the room (it
 * joined first: the participants a join finds are those there before it). Two workers that saw the
 * same death at once each ask for a dispatch; the later agent leaves, so exactly one stays. The dead
 * agent, which may still linger, does not count.
 */
export function earlierTwin(room: Room, agentName: string, recovery: Recovery): string | undefined {
  return liveAgentOf(room.remoteParticipants.values(), agentName, [recovery.from.identity]);
}
