import { FfiRequest, livekitFfiRequest } from '@livekit/rtc-ffi-bindings';
import type { LocalParticipant } from '@livekit/rtc-node';

/** Who may receive which of the agent's tracks; anyone not listed receives none of them. */
export interface TrackAudience {
  participantIdentity: string;
  allowedTrackSids: string[];
}

/**
 * Sets the agent's track subscription permissions: LiveKit then delivers each of its tracks only to
 * the participants listed for it (`setTrackSubscriptionPermissions` in the other SDKs; the server
 * enforces it, so a client cannot subscribe around it). rtc-node 0.13 does not wrap this call, but the
 * Rust SDK behind it implements it, so it goes through the same FFI request rtc-node uses for the rest.
 */
export function restrictTrackAudience(lp: LocalParticipant, audiences: TrackAudience[]): void {
  const request = new FfiRequest({
    message: {
      case: 'setTrackSubscriptionPermissions',
      value: {
        localParticipantHandle: lp.ffi_handle.handle,
        allParticipantsAllowed: false,
        permissions: audiences.map((a) => ({
          participantIdentity: a.participantIdentity,
          allowAll: false,
          allowedTrackSids: a.allowedTrackSids,
        })),
      },
    },
  });
  livekitFfiRequest(request.toBinary());
}
