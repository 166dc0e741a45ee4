import { SubscribedQuality, type TrackInfo, type UpdateTrackSettings, VideoQuality } from '@livekit/protocol';
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

/** -dBov at or below which an audio packet counts as speech (LiveKit's default threshold). */
const ACTIVE_DBOV = 35;

/** Preferred simulcast layers of a subscriber that asked for nothing, in order. */
const LAYER_PREFERENCE = ['h', 'q', 'f', ''];

/** The rid LiveKit SDKs give each quality's layer, lowest quality first. */
const LAYER_RIDS: readonly [VideoQuality, string][] = [
  [VideoQuality.LOW, 'q'],
  [VideoQuality.MEDIUM, 'h'],
  [VideoQuality.HIGH, 'f'],
];
const RID_OF_QUALITY = new Map(LAYER_RIDS);

/** One subscriber of a track: its sender, the layer it gets, and what it asked for. */
interface Sink {
  sender: RTCRtpSender;
  /** Layer forwarded to it. */
  selected: string | undefined;
  /** A layer it is being switched to, once that layer delivers a keyframe. */
  pending: string | undefined;
  /** Layers in the order it wants them (from `trackSetting`). */
  preference: string[];
  /** Paused by the subscriber (`trackSetting.disabled`, e.g. adaptive stream with the video hidden). */
  disabled: boolean;
}

function rank(sink: Sink, key: string | undefined): number {
  const at = key === undefined ? -1 : sink.preference.indexOf(key);
  return at < 0 ? sink.preference.length : at;
}

/**
 * Forwards one published track's RTP to every subscriber's sender. Packets are relayed as they are
 * (selective forwarding, no decoding); the sender rewrites SSRC, payload type and header extensions.
 * A simulcast publisher sends several layers of one track: each subscriber gets one, the one closest to
 * what it asked for (`trackSetting`: quality or rendered size), and can pause the track.
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
  private readonly sinks = new Map<RTCRtpSender, Sink>();
  private lastKeyframeRequest = 0;
  private closed = false;
  /** RTP header extension id of the publisher's `ssrc-audio-level` (RFC 6464), when negotiated. */
  audioLevelExtId: number | undefined;
  private levelPackets = 0;
  private activePackets = 0;
  private activeLevelSum = 0;
  /** Set once media arrived and the room was told about the track. */
  announced = false;
  /**
   * Dynacast: told which qualities of a simulcast video subscribers need whenever that changes, so the
   * publisher can stop encoding the others (`subscribedQualityUpdate`).
   */
  onQualitiesWanted: ((qualities: SubscribedQuality[]) => void) | undefined;
  private lastWanted = '';

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
    // The first (or only) layer flows at once; better ones are switched to as they prove live.
    for (const sink of this.sinks.values()) sink.selected ??= key;
  }

  /**
   * Simulcast, per subscriber: move to a layer it prefers when that layer is sending, or to any live
   * layer when its current one went silent (encoders drop layers under CPU or bandwidth pressure). The
   * switch happens on a keyframe of the new layer; until then the old one keeps flowing.
   */
  private considerSwitch(sink: Sink, key: string, rtp: RtpPacket, now: number): void {
    const current = sink.selected === undefined ? undefined : this.sources.get(sink.selected);
    const stale = !current || now - current.lastPacketAt > LAYER_STALE_MS;
    if (!stale && rank(sink, key) >= rank(sink, sink.selected)) return;
    const pending = sink.pending === undefined ? undefined : this.sources.get(sink.pending);
    if (sink.pending !== key && pending && now - pending.lastPacketAt <= LAYER_STALE_MS) {
      if (rank(sink, sink.pending) <= rank(sink, key)) return;
    }
    sink.pending = key;
    if (!isVp8Keyframe(rtp.payload)) {
      this.requestKeyframeFrom(key);
      return;
    }
    sink.selected = key;
    sink.pending = undefined;
    // A new layer is a new SSRC/sequence/timestamp space: keep the subscriber's stream continuous.
    sink.sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 });
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
    const simulcast = this.sources.size > 1 && this.info.type === 1; /* VIDEO */
    const now = simulcast ? Date.now() : 0;
    if (source && simulcast) source.lastPacketAt = now;
    if (this.audioLevelExtId !== undefined) this.observeLevel(rtp);
    if (this.sinks.size === 0) return;
    // Extension ids are per connection: the publisher's mapping means nothing on a subscriber's.
    rtp.header.extensions = [];
    for (const sink of this.sinks.values()) {
      if (sink.disabled) continue;
      if (simulcast && key !== sink.selected) this.considerSwitch(sink, key, rtp, now);
      if (key === sink.selected) sink.sender.sendRtp(rtp).catch(() => {});
    }
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
    // A reused sender carried another track: continue its sequence and timestamps.
    if (this.sources.size > 0) sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 });
    const sink: Sink = {
      sender,
      selected: undefined,
      pending: undefined,
      preference: LAYER_PREFERENCE,
      disabled: false,
    };
    // Start on the live layer it prefers most; the keyframe below makes it decodable from there.
    const now = Date.now();
    for (const [key, source] of this.sources) {
      const live = this.sources.size === 1 || now - source.lastPacketAt <= LAYER_STALE_MS;
      if (live && rank(sink, key) < rank(sink, sink.selected)) sink.selected = key;
    }
    this.sinks.set(sender, sink);
    this.requestKeyframe(sender, true);
    this.updateWanted();
  }

  removeSink(sender: RTCRtpSender): void {
    if (this.sinks.delete(sender)) this.updateWanted();
  }

  /**
   * A subscriber's `trackSetting`: pause/resume, and the layer it wants (by rendered size when it gave
   * one, else by quality; the nearest lower layer when that one is not sent, as livekit-server does).
   */
  updateSink(sender: RTCRtpSender, settings: UpdateTrackSettings): void {
    const sink = this.sinks.get(sender);
    if (!sink) return;
    const disabled = settings.disabled || settings.quality === VideoQuality.OFF;
    const resumed = sink.disabled && !disabled;
    sink.disabled = disabled;
    if (this.info.type === 1 /* VIDEO */) sink.preference = this.preferenceFor(settings);
    if (resumed) {
      sink.sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 });
      this.requestKeyframe(sender, true);
    }
    const best = sink.preference.find((key) => this.sources.has(key));
    if (best !== undefined && best !== sink.selected) this.requestKeyframeFrom(best, true);
    this.updateWanted();
  }

  /**
   * Qualities up to the highest one an active subscriber wants stay on, the rest off. The lowest
   * always stays on: a new subscriber then gets a picture at once, and a publication with nobody
   * watching keeps proving it is live (tracks are announced on media here).
   */
  private updateWanted(): void {
    if (!this.onQualitiesWanted || this.info.type !== 1 /* VIDEO */ || this.info.layers.length < 2) return;
    const layers = this.layerRids();
    let top = 0;
    for (const sink of this.sinks.values()) {
      if (sink.disabled) continue;
      const wanted = sink.preference.find((rid) => layers.some((l) => l.rid === rid));
      top = Math.max(
        top,
        layers.findIndex((l) => l.rid === wanted),
      );
    }
    // Publishers map the update back to encodings by rid (q LOW, h MEDIUM, f HIGH), whatever quality
    // they announced a layer with.
    const on = new Set(layers.slice(0, top + 1).map((l) => l.rid));
    const qualities = LAYER_RIDS.map(
      ([quality, rid]) => new SubscribedQuality({ quality, enabled: on.has(rid) }),
    );
    const key = qualities.map((q) => Number(q.enabled)).join('');
    if (key === this.lastWanted) return;
    this.lastWanted = key;
    this.onQualitiesWanted(qualities);
  }

  /** Layer rids from the wanted one down to the lowest, then upwards (`''` is a non-simulcast track). */
  private preferenceFor(settings: UpdateTrackSettings): string[] {
    const layers = this.layerRids();
    if (layers.length === 0) return LAYER_PREFERENCE;
    let wanted = layers.findIndex((l) => l.quality >= settings.quality);
    if (settings.width > 0) wanted = layers.findIndex((l) => l.width >= settings.width);
    if (wanted < 0) wanted = layers.length - 1;
    const down = layers.slice(0, wanted + 1).reverse();
    const up = layers.slice(wanted + 1);
    return [...down, ...up].map((l) => l.rid).concat('');
  }

  /** The announced layers, lowest quality first, with the rid each is sent under. */
  private layerRids(): { rid: string; quality: VideoQuality; width: number }[] {
    const sorted = [...this.info.layers].sort((a, b) => a.quality - b.quality);
    // Layers without a rid (older SDKs) are the sent rids in q < h < f order, when the counts match.
    const sent = LAYER_RIDS.map(([, rid]) => rid).filter((rid) => this.sources.has(rid));
    return sorted.map((l, i) => ({
      rid: l.rid || (sent.length === sorted.length ? sent[i] : RID_OF_QUALITY.get(l.quality)) || '',
      quality: l.quality,
      width: l.width,
    }));
  }

  /** Asks the publisher for a keyframe of the layer a subscriber gets (its PLI, or it is new); throttled. */
  requestKeyframe(sender: RTCRtpSender, force = false): void {
    const selected = this.sinks.get(sender)?.selected;
    if (selected !== undefined) this.requestKeyframeFrom(selected, force);
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
