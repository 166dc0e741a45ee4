import {
  DisconnectReason,
  LeaveRequest_Action,
  SessionDescription,
  TrackType,
  type UpdateTrackSettings,
} from '@livekit/protocol';
import type { RTCPeerConnection, RTCRtpTransceiver } from 'werift';
import type { TrackForwarder } from './media-forwarder.ts';
import { leaveMessage, type SignalMessage } from './participant-signal.ts';
import { answerMismatch, stampMsid, withoutMdnsCandidates } from './peer.ts';

/** How long a subscriber offer may wait for its answer before it is made again. */
const ANSWER_TIMEOUT_MS = 15_000;
/**
 * Subscriber negotiations that may fail in a row (an offer werift cannot make, an answer it cannot
 * apply) before the client is asked for a full reconnect, as livekit-server does when negotiation fails.
 */
const MAX_NEGOTIATION_FAILURES = 3;

/** What the subscriber side needs from its participant. */
export interface SubscriberOwner {
  readonly identity: string;
  isClosed(): boolean;
  /** The participant's current `canSubscribe` permission. */
  canSubscribe(): boolean;
  send(message: SignalMessage): void;
  /** Closes the signal socket (after asking the client to reconnect). */
  closeSignal(): void;
  /** A down track is bound: media for `forwarder` now flows to this participant. */
  onBound(forwarder: TrackForwarder): void;
  log(msg: string, extra?: Record<string, unknown>): void;
}

interface DownTrack {
  forwarder: TrackForwarder;
  transceiver: RTCRtpTransceiver;
  unsubscribe: () => void;
}

/**
 * The subscriber connection's media (we offer and send media to the client — LiveKit's "subscriber
 * primary" layout): a down track per subscription on a reused transceiver, offers coalesced and
 * answered (or made again), repeated failures turned into a reconnect request.
 */
export class SubscriberNegotiation {
  private readonly pc: RTCPeerConnection;
  private readonly owner: SubscriberOwner;
  private readonly downTracks = new Map<string, DownTrack>();
  private readonly idleTransceivers: RTCRtpTransceiver[] = [];
  /**
   * Transceivers of ended subscriptions, not yet reusable: the client must first see them inactive in
   * an offer it answered. Reused earlier, an m-line would go from one track straight to the next,
   * and a client fires no `ontrack` for a new msid on an m-line that stayed active, so the new track
   * would never be subscribed on its side. `offerId` is the offer that first showed it inactive.
   */
  private readonly retiring: { transceiver: RTCRtpTransceiver; offerId?: number }[] = [];
  private negotiating = false;
  private negotiationPending = false;
  private negotiationFailures = 0;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private answerTimer: NodeJS.Timeout | undefined;
  private offerId = 0;

  constructor(pc: RTCPeerConnection, owner: SubscriberOwner) {
    this.pc = pc;
    this.owner = owner;
  }

  /** Starts the subscriber connection (data channels, and media as subscriptions come). */
  start(): void {
    this.scheduleNegotiation();
  }

  subscribedTrackSids(): string[] {
    return [...this.downTracks.keys()];
  }

  isSubscribedTo(trackSid: string): boolean {
    return this.downTracks.has(trackSid);
  }

  subscribe(forwarder: TrackForwarder): void {
    if (this.owner.isClosed() || this.downTracks.has(forwarder.info.sid) || !this.owner.canSubscribe())
      return;
    const kind = forwarder.info.type === TrackType.VIDEO ? 'video' : 'audio';
    const reuse = this.idleTransceivers.findIndex((t) => t.kind === kind);
    const transceiver =
      reuse >= 0
        ? this.idleTransceivers.splice(reuse, 1)[0]!
        : this.pc.addTransceiver(kind, { direction: 'sendonly' });
    transceiver.setDirection('sendonly');
    const pli = transceiver.sender.onPictureLossIndication.subscribe(() =>
      forwarder.requestKeyframe(transceiver.sender),
    );
    const ready = transceiver.sender.onReady.subscribe(() => {
      forwarder.requestKeyframe(transceiver.sender, true);
      this.owner.onBound(forwarder);
    });
    forwarder.addSink(transceiver.sender);
    this.downTracks.set(forwarder.info.sid, {
      forwarder,
      transceiver,
      unsubscribe: () => {
        pli.unSubscribe();
        ready.unSubscribe();
      },
    });
    this.scheduleNegotiation();
  }

  /** `trackSetting`: the subscriber's quality/size wish and pause for tracks it receives. */
  updateTrackSettings(settings: UpdateTrackSettings): void {
    for (const sid of settings.trackSids) {
      const down = this.downTracks.get(sid);
      down?.forwarder.updateSink(down.transceiver.sender, settings);
    }
  }

  unsubscribe(trackSid: string): void {
    const down = this.downTracks.get(trackSid);
    if (!down) return;
    this.downTracks.delete(trackSid);
    down.unsubscribe();
    down.forwarder.removeSink(down.transceiver.sender);
    down.transceiver.setDirection('inactive');
    this.retiring.push({ transceiver: down.transceiver });
    this.scheduleNegotiation();
  }

  private scheduleNegotiation(): void {
    if (this.owner.isClosed() || this.negotiationTimer) return;
    // Coalesce the subscribe/unsubscribe burst of one event (a join, a publish) into one offer.
    this.negotiationTimer = setTimeout(() => {
      this.negotiationTimer = undefined;
      this.negotiate().catch((err) =>
        this.owner.log('subscriber negotiation failed', { identity: this.owner.identity, err: String(err) }),
      );
    }, 20);
  }

  private async negotiate(): Promise<void> {
    if (this.owner.isClosed()) return;
    if (this.negotiating) {
      this.negotiationPending = true;
      return;
    }
    this.negotiating = true;
    const shownInactive = this.retiring.filter((r) => r.offerId === undefined);
    let offer: Awaited<ReturnType<RTCPeerConnection['createOffer']>>;
    try {
      offer = await this.pc.createOffer();
      await this.pc.setLocalDescription(offer);
    } catch (err) {
      this.negotiationFailed('offer', err);
      return;
    }
    const labels = new Map<string, { participantSid: string; trackSid: string }>();
    for (const [trackSid, down] of this.downTracks) {
      if (down.transceiver.mid) {
        labels.set(down.transceiver.mid, { participantSid: down.forwarder.publisherSid, trackSid });
      }
    }
    const sdp = stampMsid(this.pc.localDescription?.sdp ?? offer.sdp, labels);
    this.offerId++;
    for (const r of shownInactive) r.offerId = this.offerId;
    // A client that never answers (lost message, stuck peer) must not freeze this connection's
    // subscriptions forever: after a while, offer again.
    clearTimeout(this.answerTimer);
    this.answerTimer = setTimeout(() => {
      if (!this.negotiating || this.owner.isClosed()) return;
      this.negotiating = false;
      this.scheduleNegotiation();
    }, ANSWER_TIMEOUT_MS);
    this.answerTimer.unref();
    const midToTrackId = Object.fromEntries([...labels].map(([mid, l]) => [mid, l.trackSid]));
    this.owner.send({
      case: 'offer',
      value: new SessionDescription({ type: 'offer', sdp, id: this.offerId, midToTrackId }),
    });
  }

  async handleAnswer(answer: SessionDescription): Promise<void> {
    if (this.owner.isClosed() || !this.negotiating) return;
    // Clients echo the offer id; an answer to an offer superseded (e.g. across a resume) is stale.
    if (answer.id !== 0 && answer.id !== this.offerId) return;
    clearTimeout(this.answerTimer);
    try {
      const mismatch = answerMismatch(this.pc.localDescription?.sdp ?? '', answer.sdp);
      if (mismatch) throw new Error(`answer does not match the offer: ${mismatch}`);
      await this.pc.setRemoteDescription({ type: 'answer', sdp: withoutMdnsCandidates(answer.sdp) });
    } catch (err) {
      this.negotiationFailed('answer', err);
      return;
    }
    this.negotiating = false;
    this.negotiationFailures = 0;
    this.releaseRetired(this.offerId);
    // A track added once the (bundled) transport is up never sees its sender's `onReady`: the
    // accepted answer is what binds it. The room tells each publisher once.
    if (this.pc.connectionState === 'connected') {
      for (const down of this.downTracks.values()) this.owner.onBound(down.forwarder);
    }
    if (this.negotiationPending) {
      this.negotiationPending = false;
      this.scheduleNegotiation();
    }
  }

  /** Transceivers the client has now seen inactive (in offer `answeredOfferId` or earlier) may carry new tracks. */
  private releaseRetired(answeredOfferId: number): void {
    for (let i = this.retiring.length - 1; i >= 0; i--) {
      const r = this.retiring[i]!;
      if (r.offerId === undefined || r.offerId > answeredOfferId) continue;
      this.retiring.splice(i, 1);
      this.idleTransceivers.push(r.transceiver);
    }
  }

  /**
   * A subscriber offer or answer failed: the subscriptions it carried are not in place, so offer again
   * after a short pause; after a few failures in a row ask the client to reconnect from scratch.
   */
  private negotiationFailed(step: 'offer' | 'answer', err: unknown): void {
    this.negotiating = false;
    this.negotiationFailures++;
    this.owner.log('subscriber negotiation failed', {
      identity: this.owner.identity,
      step,
      attempt: this.negotiationFailures,
      err: String(err),
    });
    if (this.owner.isClosed()) return;
    if (this.negotiationFailures >= MAX_NEGOTIATION_FAILURES) {
      this.negotiationFailures = 0;
      this.owner.send(leaveMessage(LeaveRequest_Action.RECONNECT, DisconnectReason.STATE_MISMATCH));
      this.owner.closeSignal();
      return;
    }
    setTimeout(() => this.scheduleNegotiation(), 200 * this.negotiationFailures).unref();
  }

  /** After a signal resume the client may have lost our last offer: offer again. */
  renegotiateAfterResume(): void {
    this.negotiating = false;
    this.scheduleNegotiation();
  }

  /** The participant ends: no more offers, every down track leaves its forwarder. */
  stop(): void {
    clearTimeout(this.negotiationTimer);
    clearTimeout(this.answerTimer);
    for (const sid of [...this.downTracks.keys()]) {
      const down = this.downTracks.get(sid)!;
      down.unsubscribe();
      down.forwarder.removeSink(down.transceiver.sender);
    }
    this.downTracks.clear();
  }
}
