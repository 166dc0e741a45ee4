/**
 * Just enough Matroska/WebM to take the Opus packets out of what a browser's `MediaRecorder` writes
 * (livekit-client's pre-connect buffer): one audio track, SimpleBlocks or BlockGroups in Clusters,
 * Segment and Clusters of unknown size (a live recording never goes back to write sizes). Everything
 * else is skipped by its size. Malformed input throws a {@link WebmError}; nothing is guessed.
 */

/** The bytes are not a WebM/Matroska file this reader can take Opus from. */
export class WebmError extends Error {
  override name = 'WebmError';
}

/** The Opus track of a WebM file and its packets, in order. */
export interface WebmOpus {
  channels: number;
  /** Samples (at 48 kHz) the decoder drops at the start, from the OpusHead (`CodecPrivate`). */
  preSkip: number;
  packets: Uint8Array[];
}

const ID = {
  EBML: 0x1a45dfa3,
  DocType: 0x4282,
  Segment: 0x18538067,
  Cluster: 0x1f43b675,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  Audio: 0xe1,
  Channels: 0x9f,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
} as const;

/** Elements read into rather than over (their children matter, or they may have unknown size). */
const MASTERS = new Set<number>([ID.Segment, ID.Cluster, ID.Tracks, ID.TrackEntry, ID.Audio, ID.BlockGroup]);
/** Elements whose contents are kept: everything else is skipped by its size. */
const KEPT = new Set<number>([
  ID.DocType,
  ID.TrackNumber,
  ID.TrackType,
  ID.CodecID,
  ID.CodecPrivate,
  ID.Channels,
  ID.SimpleBlock,
  ID.Block,
]);
const TRACK_AUDIO = 2;

interface Track {
  number?: number;
  type?: number;
  codec?: string;
  codecPrivate?: Uint8Array;
  channels?: number;
}

/** Reads the Opus packets of a WebM (or Matroska) file held whole in memory. */
export function readWebmOpus(bytes: Uint8Array): WebmOpus {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tracks: Track[] = [];
  const blocks: Uint8Array[] = [];
  let docType: string | undefined;
  let track: Track | undefined;
  let pos = 0;
  // Ends of the master elements we are in (Infinity: unknown size, ends with the file or a sibling).
  const open: { id: number; end: number }[] = [];
  if (bytes.length < 4 || view.getUint32(0) !== ID.EBML) throw new WebmError('not WebM: no EBML header');
  while (pos < bytes.length) {
    while (open.length && pos >= open.at(-1)!.end) closeElement(open.pop()!.id);
    const id = readId(bytes, pos);
    pos += id.length;
    const size = readSize(bytes, pos);
    pos += size.length;
    // A Cluster of unknown size ends where the next Cluster (or any top-level element) starts.
    if (id.value === ID.Cluster) {
      while (open.length && open.at(-1)!.id !== ID.Segment) closeElement(open.pop()!.id);
    }
    if (MASTERS.has(id.value)) {
      const end = size.value === undefined ? Number.POSITIVE_INFINITY : pos + size.value;
      if (
        end !== Number.POSITIVE_INFINITY &&
        end > bytes.length &&
        id.value !== ID.Segment &&
        id.value !== ID.Cluster
      )
        throw new WebmError('truncated element');
      if (id.value === ID.TrackEntry) track = {};
      open.push({ id: id.value, end });
      continue;
    }
    if (size.value === undefined) throw new WebmError('unknown size on a non-master element');
    const end = pos + size.value;
    if (end > bytes.length) {
      // A recording cut mid-block (the recorder stopped): the last block is lost, not the file.
      if (id.value === ID.SimpleBlock || id.value === ID.Block) break;
      throw new WebmError('truncated element');
    }
    if (id.value === ID.EBML) {
      const header = bytes.subarray(pos, end);
      docType = findDocType(header);
      pos = end;
      continue;
    }
    if (KEPT.has(id.value)) {
      const data = bytes.subarray(pos, end);
      if (id.value === ID.SimpleBlock || id.value === ID.Block) blocks.push(data);
      else if (track) readTrackField(track, id.value, data);
    }
    pos = end;
  }
  while (open.length) closeElement(open.pop()!.id);

  function closeElement(id: number): void {
    if (id === ID.TrackEntry && track) {
      tracks.push(track);
      track = undefined;
    }
  }

  if (docType !== 'webm' && docType !== 'matroska')
    throw new WebmError(`not WebM: DocType ${docType ?? 'missing'}`);
  const audio = tracks.filter((t) => t.type === undefined || t.type === TRACK_AUDIO);
  const opus = audio.find((t) => t.codec === 'A_OPUS');
  if (!opus || opus.number === undefined)
    throw new WebmError(
      `no Opus audio track (codecs: ${tracks.map((t) => t.codec ?? '?').join(', ') || 'none'})`,
    );
  const head = readOpusHead(opus.codecPrivate);
  const channels = head?.channels ?? opus.channels ?? 1;
  if (channels < 1 || channels > 2) throw new WebmError(`unsupported channel count ${channels}`);
  const packets: Uint8Array[] = [];
  for (const block of blocks) {
    const packet = blockPayload(block, opus.number);
    if (packet) packets.push(packet);
  }
  return { channels, preSkip: head?.preSkip ?? 0, packets };
}

/** The frame of a (Simple)Block of `trackNumber`; undefined for other tracks. */
function blockPayload(block: Uint8Array, trackNumber: number): Uint8Array | undefined {
  const track = readSize(block, 0);
  if (track.value === undefined) throw new WebmError('bad block track number');
  if (track.value !== trackNumber) return undefined;
  const headerEnd = track.length + 3; // int16 timecode, flags
  if (block.length < headerEnd) throw new WebmError('truncated block');
  const lacing = (block[track.length + 2]! >> 1) & 3;
  // MediaRecorder writes one Opus packet per block; laced blocks are not something it produces.
  if (lacing !== 0) throw new WebmError('laced blocks are not supported');
  return block.subarray(headerEnd);
}

function readTrackField(track: Track, id: number, data: Uint8Array): void {
  if (id === ID.TrackNumber) track.number = readUint(data);
  else if (id === ID.TrackType) track.type = readUint(data);
  else if (id === ID.CodecID) track.codec = new TextDecoder().decode(data);
  else if (id === ID.CodecPrivate) track.codecPrivate = data;
  else if (id === ID.Channels) track.channels = readUint(data);
}

/** `OpusHead` (RFC 7845 §5.1): channel count and pre-skip. */
function readOpusHead(data: Uint8Array | undefined): { channels: number; preSkip: number } | undefined {
  if (!data || data.length < 19 || new TextDecoder().decode(data.subarray(0, 8)) !== 'OpusHead')
    return undefined;
  return { channels: data[9]!, preSkip: data[10]! | (data[11]! << 8) };
}

function findDocType(header: Uint8Array): string | undefined {
  let pos = 0;
  while (pos < header.length) {
    const id = readId(header, pos);
    pos += id.length;
    const size = readSize(header, pos);
    pos += size.length;
    if (size.value === undefined || pos + size.value > header.length) throw new WebmError('bad EBML header');
    if (id.value === ID.DocType) return new TextDecoder().decode(header.subarray(pos, pos + size.value));
    pos += size.value;
  }
  return undefined;
}

/** An element ID: a variable-length integer with its marker bit kept (1–4 bytes). */
function readId(bytes: Uint8Array, pos: number): { value: number; length: number } {
  const first = bytes[pos];
  if (first === undefined) throw new WebmError('truncated element ID');
  const length = Math.clz32(first) - 23;
  if (length < 1 || length > 4 || pos + length > bytes.length) throw new WebmError('bad element ID');
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + bytes[pos + i]!;
  return { value, length };
}

/** A data size (1–8 bytes); all ones means unknown (`undefined`). */
function readSize(bytes: Uint8Array, pos: number): { value: number | undefined; length: number } {
  const first = bytes[pos];
  if (first === undefined) throw new WebmError('truncated element size');
  const length = Math.clz32(first) - 23;
  if (length < 1 || length > 8 || pos + length > bytes.length) throw new WebmError('bad element size');
  let value = first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = bytes[pos + i]!;
    allOnes &&= b === 0xff;
    value = value * 256 + b;
  }
  if (allOnes) return { value: undefined, length };
  if (value > Number.MAX_SAFE_INTEGER) throw new WebmError('element size too large');
  return { value, length };
}

function readUint(data: Uint8Array): number {
  let v = 0;
  for (const b of data) v = v * 256 + b;
  return v;
}
