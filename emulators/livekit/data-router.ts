import { DataPacket, type DataPacket_Kind, ParticipantInfo_Kind } from '@livekit/protocol';
import type { Participant } from './participant.ts';

/** Larger than any packet the SDKs build (stream chunks are ≤ 15 KiB); anything bigger is refused. */
export const MAX_DATA_PACKET_BYTES = 256 * 1024;

export type DataDropReason = 'malformed' | 'too_large' | 'not_allowed';

const ON_BEHALF = new Set(['transcription', 'streamHeader', 'streamChunk', 'streamTrailer']);

/**
 * Like livekit-server, an agent may send transcriptions and text streams on behalf of a participant
 * (the user's own words, attributed to the user); everyone else is stamped with their own identity.
 */
function speaksForOthers(sender: Participant | undefined, packet: DataPacket): boolean {
  return (
    sender?.kind === ParticipantInfo_Kind.AGENT &&
    packet.participantIdentity !== '' &&
    ON_BEHALF.has(packet.value.case ?? '')
  );
}

/**
 * Routes one DataPacket (user data, chat, transcription, RPC, stream header/chunk/trailer…) from a
 * participant — or from the server when `sender` is undefined — to the room. The server stamps the
 * sender's identity and sid so receivers cannot be fooled by what a client claims (agents' transcripts
 * excepted, see {@link speaksForOthers}), and honours
 * destination identities (empty = everyone but the sender).
 */
export function routeDataPacket(
  bytes: Uint8Array,
  kind: DataPacket_Kind,
  sender: Participant | undefined,
  participants: Iterable<Participant>,
): { delivered: number } | { dropped: DataDropReason } {
  if (bytes.byteLength > MAX_DATA_PACKET_BYTES) return { dropped: 'too_large' };
  if (sender && !sender.permission.canPublishData) return { dropped: 'not_allowed' };
  let packet: DataPacket;
  try {
    packet = DataPacket.fromBinary(bytes);
  } catch {
    return { dropped: 'malformed' };
  }
  const destinations = new Set(packet.destinationIdentities);
  const recipients = [...participants];
  if (packet.value.case === 'user') {
    const user = packet.value.value;
    for (const id of user.destinationIdentities) destinations.add(id);
    for (const sid of user.destinationSids) {
      const p = recipients.find((r) => r.sid === sid);
      if (p) destinations.add(p.identity);
    }
    if (sender) {
      user.participantIdentity = sender.identity;
      user.participantSid = sender.sid;
    }
  }
  packet.kind = kind;
  if (!speaksForOthers(sender, packet)) packet.participantIdentity = sender?.identity ?? '';
  packet.participantSid = sender?.sid ?? '';
  const out = Buffer.from(packet.toBinary());
  let delivered = 0;
  for (const p of recipients) {
    if (p === sender) continue;
    if (destinations.size > 0 && !destinations.has(p.identity)) continue;
    if (p.sendData(out, kind)) delivered++;
  }
  return { delivered };
}
