import type { TrackInfo } from '@livekit/protocol';
import type { MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RtpPacket } from 'werift';

interface Source {
  track: MediaStreamTrack;
  receiver: RTCRtpReceiver;
  unsubscribe: () => void;
  lastPacketAt: number;
  /**
   * SSRC seen on this source's packets. werift binds simulcast layers by rid and never sets their
   * track's SSRC, so keyframe requests need the one the packets carry.
   */
  ssrc: number | undefined;
  /** A keyframe was asked for before the SSRC was known: ask as soon as it is. */
  keyframeWanted: boolean;
}

/** A layer silent this long is considered paused (the publisher's encoder dropped it). */
const LAYER_STALE_MS = 1000;

/**
 * Whether a VP8 RTP payload starts a keyframe (RFC 7741): start of partition 0, then the P bit of the
 * VP8 payload header clear. Layer switches wait for one so subscribers never decode across a gap.
 */
export function isVp8Keyframe(payload: Uint8Array): boolean {
  const b0 = payload[0];
  if (b0 === undefined || !(b0 & 0x10) || (b0 & 0x07) !== 0) return false;
  let i = 1;
  if (b0 & 0x80) {
    const b1 = payload[1] ?? 0;
    i = 2;
    if (b1 & 0x80) i += (payload[i] ?? 0) & 0x80 ? 2 : 1; // picture id, 7 or 15 bits
    if (b1 & 0x40) i += 1; // TL0PICIDX
    if (b1 & 0x30) i += 1; // TID/KEYIDX
  }
  const header = payload[i];
  return header !== undefined && (header & 0x01) === 0;
}

function rank(key: string | undefined): number {
  const at = key === undefined ? -1 : LAYER_PREFERENCE.indexOf(key);
  return at < 0 ? LAYER_PREFERENCE.length : at;
}

/** -dBov at or below which an audio packet counts as speech (LiveKit's default threshold). */
const ACTIVE_DBOV = 35;

/** Preferred simulcast layers, in order; a simulcast publisher may send any subset. */
const LAYER_PREFERENCE = ['h', 'q', 'f', ''];

/**
 * Forwards one published track's RTP to every subscriber's sender. Packets are relayed as they are
 * (selective forwarding, no decoding); the sender rewrites SSRC, payload type and header extensions.
 * A simulcast publisher sends several layers of one track: one layer is chosen and forwarded.
 */
export class TrackForwarder {
  readonly info: TrackInfo;
  /** The publisher's track id (`cid`), which its SDP carries as the msid track id. */
  readonly cid: string;
  /** Sid of the participant publishing it (the stream id prefix subscribers map tracks by). */
  readonly publisherSid: string;
  /** Set once the publisher has been told (TrackSubscribed) that this track has a subscriber. */
  subscriberNotified = false;
  private readonly sources = new Map<string, Source>();
  private selected: string | undefined;
  /** A layer being switched to, once it delivers a keyframe. */
  private pending: string | undefined;
  private readonly sinks = new Set<RTCRtpSender>();
  private lastKeyframeRequest = 0;
  private closed = false;
  /** Packets received from the publisher on the forwarded layer. */
  packetsIn = 0;
  /** RTP header extension id of the publisher's `ssrc-audio-level` (RFC 6464), when negotiated. */
  audioLevelExtId: number | undefined;
  private levelPackets = 0;
  private activePackets = 0;
  private activeLevelSum = 0;
  /** Set once media arrived and the room was told about the track. */
  announced = false;
  readonly createdAt = Date.now();

  constructor(info: TrackInfo, cid: string, publisherSid: string) {
    this.info = info;
    this.cid = cid;
    this.publisherSid = publisherSid;
  }

  get hasSource(): boolean {
    return this.sources.size > 0;
  }

  get sinkCount(): number {
    return this.sinks.size;
  }

  /** Binds a received track (one simulcast layer, or the only stream) to this publication. */
  attachSource(track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    if (this.closed) return;
    const key = track.rid ?? '';
    this.sources.get(key)?.unsubscribe();
    const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => this.forward(key, rtp));
    this.sources.set(key, {
      track,
      receiver,
      unsubscribe: unSubscribe,
      lastPacketAt: 0,
      ssrc: track.ssrc,
      keyframeWanted: false,
    });
    if (this.selected === undefined) this.selected = key;
  }

  /**
   * Simulcast: move to a more preferred layer when it is sending, or to any live layer when the
   * current one went silent (encoders drop layers under CPU or bandwidth pressure). The switch happens
   * on a keyframe of the new layer; until then the old one keeps flowing.
   */
  private considerSwitch(key: string, rtp: RtpPacket, now: number): void {
    const current = this.selected === undefined ? undefined : this.sources.get(this.selected);
    const stale = !current || now - current.lastPacketAt > LAYER_STALE_MS;
    if (!stale && rank(key) >= rank(this.selected)) return;
    const pending = this.pending === undefined ? undefined : this.sources.get(this.pending);
    if (this.pending !== key && pending && now - pending.lastPacketAt <= LAYER_STALE_MS) {
      if (rank(this.pending) <= rank(key)) return;
    }
    this.pending = key;
    if (!isVp8Keyframe(rtp.payload)) {
      this.requestKeyframeFrom(key);
      return;
    }
    this.selected = key;
    this.pending = undefined;
    // A new layer is a new SSRC/sequence/timestamp space: keep each subscriber's stream continuous.
    for (const sink of this.sinks) sink.replaceRTP({ sequenceNumber: 0, timestamp: 0 });
  }

  private forward(key: string, rtp: RtpPacket): void {
    if (this.closed) return;
    const source = this.sources.get(key);
    if (source && source.ssrc !== rtp.header.ssrc) {
      source.ssrc = rtp.header.ssrc;
      if (source.keyframeWanted) {
        source.keyframeWanted = false;
        this.requestKeyframeFrom(key, true);
      }
    }
    if (source && this.sources.size > 1) {
      const now = Date.now();
      source.lastPacketAt = now;
      if (key !== this.selected && this.info.type === 1 /* VIDEO */) this.considerSwitch(key, rtp, now);
    }
    if (key !== this.selected) return;
    this.packetsIn++;
    if (this.audioLevelExtId !== undefined) this.observeLevel(rtp);
    if (this.sinks.size === 0) return;
    // Extension ids are per connection: the publisher's mapping means nothing on a subscriber's.
    rtp.header.extensions = [];
    for (const sink of this.sinks) sink.sendRtp(rtp).catch(() => {});
  }

  private observeLevel(rtp: RtpPacket): void {
    const ext = rtp.header.extensions.find((e) => e.id === this.audioLevelExtId);
    const byte = ext?.payload[0];
    if (byte === undefined) return;
    const dBov = byte & 0x7f; // 0 = loudest, 127 = silence
    this.levelPackets++;
    if (dBov <= ACTIVE_DBOV) {
      this.activePackets++;
      this.activeLevelSum += 10 ** (-dBov / 20);
    }
  }

  /**
   * Speech activity since the last call: active when enough packets were louder than the threshold;
   * `level` is their mean linear amplitude (0–1), what clients show as a participant's audio level.
   */
  takeAudioActivity(): { active: boolean; level: number } {
    const active = !this.info.muted && this.levelPackets > 0 && this.activePackets / this.levelPackets >= 0.3;
    const level = this.activePackets > 0 ? this.activeLevelSum / this.activePackets : 0;
    this.levelPackets = 0;
    this.activePackets = 0;
    this.activeLevelSum = 0;
    return { active, level };
  }

  addSink(sender: RTCRtpSender): void {
    if (this.sinks.has(sender)) return;
    if (this.sinks.size > 0 || this.selected !== undefined)
      sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 });
    this.sinks.add(sender);
    this.requestKeyframe(true);
  }

  removeSink(sender: RTCRtpSender): void {
    this.sinks.delete(sender);
  }

  /** Asks the publisher for a keyframe (a subscriber's PLI, or a new subscriber); throttled. */
  requestKeyframe(force = false): void {
    if (this.selected !== undefined) this.requestKeyframeFrom(this.selected, force);
  }

  private requestKeyframeFrom(key: string, force = false): void {
    if (this.info.type !== 1 /* VIDEO */) return;
    const now = Date.now();
    if (!force && now - this.lastKeyframeRequest < 500) return;
    const source = this.sources.get(key);
    if (!source) return;
    if (source.ssrc === undefined) {
      source.keyframeWanted = true;
      return;
    }
    this.lastKeyframeRequest = now;
    source.receiver.sendRtcpPLI(source.ssrc).catch(() => {});
  }

  close(): void {
    this.closed = true;
    for (const s of this.sources.values()) s.unsubscribe();
    this.sources.clear();
    this.sinks.clear();
  }
}
