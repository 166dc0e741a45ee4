import { ParticipantPermission, type SubscriptionPermission, TrackSource } from '@livekit/protocol';
import type { JoinGrants } from './auth.ts';

const SOURCE_NAMES: Record<number, string> = {
  [TrackSource.CAMERA]: 'camera',
  [TrackSource.MICROPHONE]: 'microphone',
  [TrackSource.SCREEN_SHARE]: 'screen_share',
  [TrackSource.SCREEN_SHARE_AUDIO]: 'screen_share_audio',
};

/** A participant's permissions as its token grants them (`canPublishSources` names → `TrackSource`). */
export function permissionFromGrants(grants: JoinGrants): ParticipantPermission {
  return new ParticipantPermission({
    canPublish: grants.canPublish,
    canSubscribe: grants.canSubscribe,
    canPublishData: grants.canPublishData,
    canUpdateMetadata: grants.canUpdateOwnMetadata,
    canPublishSources: grants.canPublishSources
      .map((s) => Number(Object.entries(SOURCE_NAMES).find(([, n]) => n === s)?.[0] ?? -1))
      .filter((n) => n >= 0),
    hidden: grants.hidden,
    agent: grants.agent || grants.kind === 'agent',
  });
}

/** Publishing permission for a source, per the token's canPublish / canPublishSources. */
export function mayPublish(permission: ParticipantPermission, source: TrackSource): boolean {
  if (!permission.canPublish) return false;
  const allowed = permission.canPublishSources;
  return allowed.length === 0 || allowed.includes(source);
}

/**
 * Whether a subscriber (`identity`, `sid`) may receive track `trackSid` under its publisher's
 * subscription permissions (`subscriptionPermission`; everyone when unset). Rules match by identity,
 * else by sid.
 */
export function allowsSubscriber(
  permission: SubscriptionPermission | undefined,
  trackSid: string,
  subscriber: { identity: string; sid: string },
): boolean {
  if (!permission || permission.allParticipants) return true;
  return permission.trackPermissions.some(
    (t) =>
      (t.participantIdentity
        ? t.participantIdentity === subscriber.identity
        : t.participantSid === subscriber.sid) &&
      (t.allTracks || t.trackSids.includes(trackSid)),
  );
}
