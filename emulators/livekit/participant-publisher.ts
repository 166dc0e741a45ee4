import { SessionDescription, TrackType } from '@livekit/protocol';
import type { MediaStreamTrack, RTCPeerConnection } from 'werift';
import type { TrackForwarder } from './media-forwarder.ts';
import type { SignalMessage } from './participant-signal.ts';
import { extensionIdsByMid, keepBundle, sendingMids, trackIdsByMid, withoutMdnsCandidates } from './peer.ts';

const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** What the publisher side needs from its participant. */
export interface PublisherOwner {
  readonly identity: string;
  isClosed(): boolean;
  /** Publications by track sid (add_track), announced or not. */
  readonly published: Map<string, TrackForwarder>;
  send(message: SignalMessage): void;
  unpublish(trackSid: string): void;
  /** A publication's media arrived (it is marked announced): the room is told. */
  announce(forwarder: TrackForwarder): void;
  log(msg: string, extra?: Record<string, unknown>): void;
}

/**
 * The publisher connection (the client offers and sends media/data to us): offers answered in arrival
 * order, publications bound to the m-lines that carry them, media binding announces a track, an m-line
 * that stops sending unpublishes it.
 */
export class PublisherNegotiation {
  private readonly pc: RTCPeerConnection;
  private readonly owner: PublisherOwner;
  /** mid → publisher's track cid, from the latest publisher offer. */
  private publisherMids = new Map<string, string>();
  /** mid → audio-level extension id, from the latest publisher offer. */
  private audioLevelIds = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();

  constructor(pc: RTCPeerConnection, owner: PublisherOwner) {
    this.pc = pc;
    this.owner = owner;
    pc.onTrack.subscribe((track) => this.onTrack(track));
  }

  /** Serialises publisher negotiations: each offer is applied and answered in arrival order. */
  handleOffer(offer: SessionDescription): void {
    this.queue = this.queue
      .then(() => this.answer(offer))
      .catch((err) =>
        this.owner.log('publisher negotiation failed', { identity: this.owner.identity, err: String(err) }),
      );
  }

  private async answer(offer: SessionDescription): Promise<void> {
    if (this.owner.isClosed()) return;
    this.publisherMids = trackIdsByMid(offer.sdp);
    this.audioLevelIds = extensionIdsByMid(offer.sdp, AUDIO_LEVEL_URI);
    const sending = sendingMids(offer.sdp);
    this.bindOfferedPublications(sending);
    await this.pc.setRemoteDescription({ type: 'offer', sdp: withoutMdnsCandidates(offer.sdp) });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const sdp = keepBundle(offer.sdp, this.pc.localDescription?.sdp ?? answer.sdp);
    this.owner.send({ case: 'answer', value: new SessionDescription({ type: 'answer', sdp, id: offer.id }) });
    this.detectUnpublished(sending);
  }

  /**
   * A publication is tied to its m-line by the first offer that sends its track (the offer's msid
   * names the track by the cid of its add_track), before any media of it arrives.
   */
  private bindOfferedPublications(sending: Set<string>): void {
    const publications = [...this.owner.published.values()];
    for (const [mid, cid] of this.publisherMids) {
      if (!sending.has(mid) || publications.some((f) => f.info.mid === mid)) continue;
      const f = publications.find((f) => !f.info.mid && (f.cid === cid || f.info.sid === cid));
      if (f) f.info.mid = mid;
    }
  }

  /**
   * A publication whose m-line stopped sending in a later offer was unpublished by the client. One
   * that no offer has carried yet stays pending, however long its negotiation takes: like
   * livekit-server (`pendingTracks`), which keeps an add_track until its media arrives or the
   * participant leaves. A client may make an offer without the track after sending its add_track (an
   * offer made at join, or a slow answer on a loaded machine), and only then the one that carries it.
   */
  private detectUnpublished(sending: Set<string>): void {
    for (const f of [...this.owner.published.values()]) {
      if (f.info.mid && !sending.has(f.info.mid)) this.owner.unpublish(f.info.sid);
    }
  }

  private onTrack(track: MediaStreamTrack): void {
    const transceiver = this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
    if (!transceiver) return;
    const mid = transceiver.mid ?? '';
    const cid = this.publisherMids.get(mid);
    const forwarders = [...this.owner.published.values()];
    const forwarder =
      forwarders.find((f) => f.info.mid === mid) ??
      forwarders.find((f) => cid !== undefined && (f.cid === cid || f.info.sid === cid)) ??
      forwarders.find((f) => !f.hasSource && !f.info.mid && f.info.type === kindToType(track.kind));
    if (!forwarder) {
      this.owner.log('media for an unannounced track ignored', { identity: this.owner.identity, mid });
      return;
    }
    forwarder.info.mid = mid;
    if (track.kind === 'audio') forwarder.audioLevelExtId = this.audioLevelIds.get(mid);
    // werift reports one track per m-line, its first layer; a simulcast m-line has a track per rid.
    const layers = transceiver.receiver.tracks.length > 0 ? transceiver.receiver.tracks : [track];
    for (const layer of layers) forwarder.attachSource(layer, transceiver.receiver);
    if (!forwarder.announced) {
      // Like LiveKit, a track is announced once its media arrives, not at add_track: a publication the
      // client withdraws before negotiating it is never seen by anyone.
      forwarder.announced = true;
      this.owner.announce(forwarder);
    }
  }
}

function kindToType(kind: string): TrackType {
  return kind === 'video' ? TrackType.VIDEO : TrackType.AUDIO;
}
