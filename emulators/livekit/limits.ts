/**
 * The dev server's bounds, one set for clients and the server API alike (livekit-server's defaults where
 * it has one). They keep one client from growing the server's memory (and every other client's, since
 * participant info is fanned out to the whole room) without limit.
 */
export const LIMITS = {
  /**
   * Bytes of participant, room or dispatch metadata (livekit-server `limit.max_metadata_size`): its
   * default until livekit/livekit#4602 (2026-06; now 512 KiB, attributes 64 KiB), kept as the strictest
   * bound a deployment is likely to run (docs/recovery.md).
   */
  metadataBytes: 64_000,
  /** Bytes of all attribute keys and values together (`limit.max_attributes_size`). */
  attributesBytes: 64_000,
  /** Characters of a display name. */
  nameLength: 1024,
  /** Characters of a room name (`limit.max_room_name_length`). */
  roomNameLength: 256,
  /** Bytes of one `SendData` payload from the server API. */
  serverDataBytes: 64_000,
  /** Tracks one participant may publish at a time. */
  tracksPerParticipant: 32,
} as const;

/** Why an update is refused, or undefined when it fits. */
export function checkParticipantUpdate(
  current: { attributes: Record<string, string> },
  update: { name?: string; metadata?: string; attributes?: Record<string, string> },
): string | undefined {
  if (update.name !== undefined && update.name.length > LIMITS.nameLength)
    return `name longer than ${LIMITS.nameLength} characters`;
  if (update.metadata !== undefined && Buffer.byteLength(update.metadata) > LIMITS.metadataBytes)
    return `metadata larger than ${LIMITS.metadataBytes} bytes`;
  if (update.attributes) {
    const merged = { ...current.attributes, ...update.attributes };
    let size = 0;
    for (const [k, v] of Object.entries(merged))
      if (v !== '') size += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (size > LIMITS.attributesBytes) return `attributes larger than ${LIMITS.attributesBytes} bytes`;
  }
  return undefined;
}
