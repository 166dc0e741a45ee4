// Participant identities the token server never grants, whoever asks and whatever the auth mode.
//
// LiveKit allows one participant per identity in a room: whoever joins second takes the identity over
// and the first is disconnected (DUPLICATE_IDENTITY). An identity visible in a room that a client could
// mint for itself is therefore a way to throw that participant out. The services below pick their
// identities from fixed prefixes, so the prefixes are reserved rather than the exact names.

/** One reserved identity prefix and who uses it, for the error message and the docs. */
export interface ReservedPrefix {
  prefix: string;
  owner: string;
}

/**
 * The one list of reserved prefixes. Compared case-insensitively: `Agent-AJ_x` would not collide in
 * LiveKit, but it would pass for the agent in every UI that shows identities.
 */
export const RESERVED_IDENTITY_PREFIXES: readonly ReservedPrefix[] = [
  // LiveKit Agents (JS and Python) join as `agent-<job id>` (`JobRequest.accept`); the LiveKit dev
  // server in emulators/livekit does the same when a worker names no identity.
  { prefix: 'agent-', owner: 'LiveKit agents (agent-<job id>)' },
  // LiveKit SIP: `sip_<number>` by default for inbound callers and CreateSIPParticipant.
  { prefix: 'sip_', owner: 'LiveKit SIP participants (sip_<number>)' },
  // LiveKit Egress joins as a hidden recorder named after its egress id, `EG_…`.
  { prefix: 'EG_', owner: 'LiveKit Egress recorders (EG_<egress id>)' },
];

/** The reserved prefix `identity` starts with, if any. */
export function reservedPrefixOf(identity: string): ReservedPrefix | undefined {
  const lower = identity.toLowerCase();
  return RESERVED_IDENTITY_PREFIXES.find((r) => lower.startsWith(r.prefix.toLowerCase()));
}
