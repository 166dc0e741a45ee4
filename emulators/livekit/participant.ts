import {
  DataPacket_Kind,
  DisconnectReason,
  LeaveRequest,
  LeaveRequest_Action,
  MuteTrackRequest,
  ParticipantInfo,
  ParticipantInfo_Kind,
  ParticipantInfo_State,
  ParticipantPermission,
  SessionDescription,
  type SignalResponse,
  SignalTarget,
  type SubscriptionPermission,
  type TrackInfo,
  TrackSource,
  TrackType,
  TrackUnpublishedResponse,
  type UpdateTrackSettings,
} from '@livekit/protocol';
import type { RTCDataChannel, RTCPeerConnection, RTCRtpTransceiver } from 'werift';
import type { JoinGrants } from './auth.ts';
import { newId } from './ids.ts';
import type { TrackForwarder } from './media-forwarder.ts';
import {
  answerMismatch,
  createPeerConnection,
  extensionIdsByMid,
  isMdnsCandidate,
  keepBundle,
  type PeerOptions,
  sendingMids,
  stampMsid,
  trackIdsByMid,
  withoutMdnsCandidates,
} from './peer.ts';

const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** Where a participant's server → client signal messages go (the live signal socket, if any). */
export type SignalMessage = SignalResponse['message'];

/** A server `leave`: the client may come back (resume or rejoin) unless the action is DISCONNECT. */
export function leaveMessage(action: LeaveRequest_Action, reason: DisconnectReason): SignalMessage {
  return {
    case: 'leave',
    value: new LeaveRequest({ canReconnect: action !== LeaveRequest_Action.DISCONNECT, action, reason }),
  };
}
export interface SignalSink {
  /** False when the socket could not take it (closing/closed): the message is kept for a resume. */
  send(message: SignalMessage): boolean;
  /** Closes the socket (after a server-initiated leave). */
  close(): void;
}

/** What a participant needs from its room. */
export interface ParticipantHost {
  onPublisherTrack(p: Participant, forwarder: TrackForwarder): void;
  onTrackUnpublished(p: Participant, forwarder: TrackForwarder): void;
  onInfoChanged(p: Participant): void;
  onData(p: Participant, bytes: Buffer, kind: DataPacket_Kind): void;
  onActive(p: Participant): void;
  /** A subscriber's down track is bound: media for `forwarder` now flows to `subscriber`. */
  onSubscriptionBound(subscriber: Participant, forwarder: TrackForwarder): void;
  log(msg: string, extra?: Record<string, unknown>): void;
}

interface DownTrack {
  forwarder: TrackForwarder;
  transceiver: RTCRtpTransceiver;
  unsubscribe: () => void;
}

/** How long a subscriber offer may wait for its answer before it is made again. */
const ANSWER_TIMEOUT_MS = 15_000;
/**
 * Subscriber negotiations that may fail in a row (an offer werift cannot make, an answer it cannot
 * apply) before the client is asked for a full reconnect, as livekit-server does when negotiation fails.
 */
const MAX_NEGOTIATION_FAILURES = 3;

/** Signal messages kept for a participant whose socket is down (beyond: the resume is refused). */
const MAX_MISSED_SIGNALS = 512;
const SKIP_WHILE_DISCONNECTED = new Set([
  'offer',
  'answer',
  'trickle',
  'pong',
  'pongResp',
  'speakersChanged',
  'join',
  'reconnect',
]);

/** Bytes a subscriber's data channel may hold before further packets to it are dropped. */
const MAX_DATA_BUFFERED = 8 * 1024 * 1024;
/** Reliable packets kept for a subscriber whose data channel is not open yet. */
const MAX_PENDING_DATA = 512;

const SOURCE_NAMES: Record<number, string> = {
  [TrackSource.CAMERA]: 'camera',
  [TrackSource.MICROPHONE]: 'microphone',
  [TrackSource.SCREEN_SHARE]: 'screen_share',
  [TrackSource.SCREEN_SHARE_AUDIO]: 'screen_share_audio',
};

/**
 * One participant in a room: its identity and grants, its two peer connections (publisher: the client
 * offers and sends media/data to us; subscriber: we offer and send media/data to the client — LiveKit's
 * "subscriber primary" layout), the tracks it publishes and the ones it receives.
 */
export class Participant {
  readonly sid = newId('PA_');
  readonly identity: string;
  readonly grants: JoinGrants;
  readonly joinedAt = Date.now();
  readonly clientProtocol: number;
  name: string;
  metadata: string;
  attributes: Record<string, string>;
  permission: ParticipantPermission;
  state = ParticipantInfo_State.JOINED;
  version = 0;
  /** Published tracks by track sid. */
  readonly published = new Map<string, TrackForwarder>();
  /** Who may subscribe to this participant's tracks (`subscriptionPermission`); everyone when unset. */
  subscriptionPermission: SubscriptionPermission | undefined;
  /** Tracks this participant asked for itself (`subscription`), kept while a permission withholds them. */
  readonly wanted = new Set<string>();
  /** Set by the `disconnectSignalOnResume` simulation: the next resume attempt is cut off. */
  dropNextResume = false;
  /** The client's auto_subscribe choice. */
  readonly autoSubscribe: boolean;

  private readonly host: ParticipantHost;
  private sink: SignalSink | undefined;
  private readonly publisher: RTCPeerConnection;
  private readonly subscriber: RTCPeerConnection;
  private readonly downTracks = new Map<string, DownTrack>();
  private readonly idleTransceivers: RTCRtpTransceiver[] = [];
  /**
   * Transceivers of ended subscriptions, not yet reusable: the client must first see them inactive in
   * an offer it answered. Reused earlier, an m-line would go from one track straight to the next,
   * and a client fires no `ontrack` for a new msid on an m-line that stayed active, so the new track
   * would never be subscribed on its side. `offerId` is the offer that first showed it inactive.
   */
  private readonly retiring: { transceiver: RTCRtpTransceiver; offerId?: number }[] = [];
  private readonly dataOut: { reliable: RTCDataChannel; lossy: RTCDataChannel };
  private readonly pendingReliable: Buffer[] = [];
  private readonly missed: SignalMessage[] = [];
  private missedOverflow = false;
  /** mid → publisher's track cid, from the latest publisher offer. */
  private publisherMids = new Map<string, string>();
  /** mid → audio-level extension id, from the latest publisher offer. */
  private audioLevelIds = new Map<string, number>();
  private publisherQueue: Promise<void> = Promise.resolve();
  private negotiating = false;
  private negotiationPending = false;
  private negotiationFailures = 0;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private answerTimer: NodeJS.Timeout | undefined;
  private offerId = 0;
  private closed = false;

  constructor(
    grants: JoinGrants,
    host: ParticipantHost,
    options: { clientProtocol: number; autoSubscribe: boolean; peer?: PeerOptions },
  ) {
    this.grants = grants;
    this.identity = grants.identity;
    this.name = grants.name;
    this.metadata = grants.metadata;
    this.attributes = { ...grants.attributes };
    this.host = host;
    this.clientProtocol = options.clientProtocol;
    this.autoSubscribe = options.autoSubscribe;
    this.permission = new ParticipantPermission({
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

    this.publisher = createPeerConnection(options.peer);
    this.publisher.onTrack.subscribe((track) => this.onPublisherTrack(track));
    this.publisher.onDataChannel.subscribe((dc) => {
      const kind = dc.label === '_lossy' ? DataPacket_Kind.LOSSY : DataPacket_Kind.RELIABLE;
      dc.onMessage.subscribe((msg) => {
        if (typeof msg !== 'string') this.host.onData(this, msg, kind);
      });
    });

    this.subscriber = createPeerConnection(options.peer);
    this.subscriber.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && this.state === ParticipantInfo_State.JOINED) {
        this.state = ParticipantInfo_State.ACTIVE;
        this.host.onActive(this);
      }
    });
    this.dataOut = {
      reliable: this.subscriber.createDataChannel('_reliable', { ordered: true }),
      lossy: this.subscriber.createDataChannel('_lossy', { ordered: false, maxRetransmits: 0 }),
    };
    this.dataOut.reliable.stateChanged.subscribe((s) => {
      if (s !== 'open') return;
      for (const bytes of this.pendingReliable.splice(0)) this.dataOut.reliable.send(bytes);
    });
    for (const pc of [this.publisher, this.subscriber]) {
      pc.onIceCandidate.subscribe(() => {});
    }
  }

  get kind(): ParticipantInfo_Kind {
    return this.permission.agent || this.grants.kind === 'agent'
      ? ParticipantInfo_Kind.AGENT
      : ParticipantInfo_Kind.STANDARD;
  }

  get hidden(): boolean {
    return this.permission.hidden;
  }

  get connected(): boolean {
    return this.sink !== undefined;
  }

  toInfo(): ParticipantInfo {
    return new ParticipantInfo({
      sid: this.sid,
      identity: this.identity,
      name: this.name,
      state: this.state,
      tracks: this.announcedTracks().map((f) => f.info),
      metadata: this.metadata,
      attributes: { ...this.attributes },
      joinedAt: BigInt(Math.floor(this.joinedAt / 1000)),
      joinedAtMs: BigInt(this.joinedAt),
      version: this.version,
      permission: this.permission,
      isPublisher: this.announcedTracks().length > 0,
      kind: this.kind,
      clientProtocol: this.clientProtocol,
    });
  }

  /** Whether `subscriber` may receive track `trackSid` under this participant's subscription permissions. */
  allowsSubscriber(trackSid: string, subscriber: Participant): boolean {
    const permission = this.subscriptionPermission;
    if (!permission || permission.allParticipants) return true;
    return permission.trackPermissions.some(
      (t) =>
        (t.participantIdentity
          ? t.participantIdentity === subscriber.identity
          : t.participantSid === subscriber.sid) &&
        (t.allTracks || t.trackSids.includes(trackSid)),
    );
  }

  /** Publications whose media has arrived: the ones the room is told about. */
  announcedTracks(): TrackForwarder[] {
    return [...this.published.values()].filter((f) => f.announced);
  }

  /** Bumps the info version; clients ignore updates whose version is not newer than what they hold. */
  touch(): void {
    this.version++;
  }

  attachSignal(sink: SignalSink): void {
    this.sink = sink;
  }

  /**
   * Keeps what a resuming client must not miss (participant updates, unpublishes, leaves, refreshed
   * tokens…) while its signal socket is down. Negotiation and liveness messages are not kept: a resume
   * renegotiates. Past the bound the overflow is remembered and the resume refused.
   */
  private queueWhileDisconnected(message: SignalMessage): void {
    if (message.case && SKIP_WHILE_DISCONNECTED.has(message.case)) return;
    if (this.missed.length >= MAX_MISSED_SIGNALS) {
      this.missedOverflow = true;
      return;
    }
    this.missed.push(message);
  }

  /** Signals queued during a socket drop, for a resume; undefined if some were lost. */
  takeMissedSignals(): SignalMessage[] | undefined {
    const missed = this.missed.splice(0);
    if (this.missedOverflow) {
      this.missedOverflow = false;
      return undefined;
    }
    return missed;
  }

  detachSignal(sink: SignalSink): void {
    if (this.sink === sink) this.sink = undefined;
  }

  send(message: SignalMessage): void {
    if (this.closed) return;
    if (!this.sink) {
      this.queueWhileDisconnected(message);
      return;
    }
    try {
      if (!this.sink.send(message)) this.queueWhileDisconnected(message);
    } catch (err) {
      this.host.log('signal send failed', { identity: this.identity, err: String(err) });
    }
  }

  /** Publishing permission for a source, per the token's canPublish / canPublishSources. */
  mayPublish(source: TrackSource): boolean {
    if (!this.permission.canPublish) return false;
    const allowed = this.permission.canPublishSources;
    return allowed.length === 0 || allowed.includes(source);
  }

  // ---- publisher connection (client offers) -------------------------------------------------------

  /** Serialises publisher negotiations: each offer is applied and answered in arrival order. */
  handlePublisherOffer(offer: SessionDescription): void {
    this.publisherQueue = this.publisherQueue
      .then(() => this.answerPublisher(offer))
      .catch((err) =>
        this.host.log('publisher negotiation failed', { identity: this.identity, err: String(err) }),
      );
  }

  private async answerPublisher(offer: SessionDescription): Promise<void> {
    if (this.closed) return;
    this.publisherMids = trackIdsByMid(offer.sdp);
    this.audioLevelIds = extensionIdsByMid(offer.sdp, AUDIO_LEVEL_URI);
    const sending = sendingMids(offer.sdp);
    this.bindOfferedPublications(sending);
    await this.publisher.setRemoteDescription({ type: 'offer', sdp: withoutMdnsCandidates(offer.sdp) });
    const answer = await this.publisher.createAnswer();
    await this.publisher.setLocalDescription(answer);
    const sdp = keepBundle(offer.sdp, this.publisher.localDescription?.sdp ?? answer.sdp);
    this.send({ case: 'answer', value: new SessionDescription({ type: 'answer', sdp, id: offer.id }) });
    this.detectUnpublished(sending);
  }

  /**
   * A publication is tied to its m-line by the first offer that sends its track (the offer's msid
   * names the track by the cid of its add_track), before any media of it arrives.
   */
  private bindOfferedPublications(sending: Set<string>): void {
    const publications = [...this.published.values()];
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
    for (const f of [...this.published.values()]) {
      if (f.info.mid && !sending.has(f.info.mid)) this.unpublish(f.info.sid);
    }
  }

  private onPublisherTrack(track: import('werift').MediaStreamTrack): void {
    const transceiver = this.publisher.getTransceivers().find((t) => t.receiver.tracks.includes(track));
    if (!transceiver) return;
    const mid = transceiver.mid ?? '';
    const cid = this.publisherMids.get(mid);
    const forwarders = [...this.published.values()];
    const forwarder =
      forwarders.find((f) => f.info.mid === mid) ??
      forwarders.find((f) => cid !== undefined && (f.cid === cid || f.info.sid === cid)) ??
      forwarders.find((f) => !f.hasSource && !f.info.mid && f.info.type === kindToType(track.kind));
    if (!forwarder) {
      this.host.log('media for an unannounced track ignored', { identity: this.identity, mid });
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
      this.touch();
      this.host.onPublisherTrack(this, forwarder);
    }
  }

  /** Registers a publication (add_track); it is announced when its media binds to it. */
  addPublication(forwarder: TrackForwarder): void {
    this.published.set(forwarder.info.sid, forwarder);
  }

  findPendingPublication(cid: string): TrackForwarder | undefined {
    return [...this.published.values()].find((f) => f.cid === cid);
  }

  unpublish(trackSid: string): void {
    const forwarder = this.published.get(trackSid);
    if (!forwarder) return;
    this.published.delete(trackSid);
    forwarder.close();
    this.send({ case: 'trackUnpublished', value: new TrackUnpublishedResponse({ trackSid }) });
    if (!forwarder.announced) return;
    this.touch();
    this.host.onTrackUnpublished(this, forwarder);
  }

  setTrackMuted(trackSid: string, muted: boolean): TrackInfo | undefined {
    const forwarder = this.published.get(trackSid);
    if (!forwarder || forwarder.info.muted === muted) return forwarder?.info;
    forwarder.info.muted = muted;
    this.touch();
    this.host.onInfoChanged(this);
    return forwarder.info;
  }

  /**
   * A mute (or unmute) ordered by the server API: the client is told to apply it to its own track, as
   * livekit-server does, and the others see the new state at once rather than after the client's echo.
   */
  muteFromServer(trackSid: string, muted: boolean): TrackInfo | undefined {
    if (!this.published.has(trackSid)) return undefined;
    this.send({ case: 'mute', value: new MuteTrackRequest({ sid: trackSid, muted }) });
    return this.setTrackMuted(trackSid, muted);
  }

  addIceCandidate(target: SignalTarget, candidateInit: string): void {
    let init: { candidate?: string; sdpMid?: string; sdpMLineIndex?: number };
    try {
      init = JSON.parse(candidateInit);
    } catch {
      return;
    }
    // mDNS names are never looked up (livekit-server's default): see isMdnsCandidate.
    if (!init.candidate || isMdnsCandidate(init.candidate)) return;
    const pc = target === SignalTarget.SUBSCRIBER ? this.subscriber : this.publisher;
    pc.addIceCandidate(init as never).catch(() => {});
  }

  // ---- subscriber connection (server offers) ------------------------------------------------------

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
    if (this.closed || this.downTracks.has(forwarder.info.sid) || !this.permission.canSubscribe) return;
    const kind = forwarder.info.type === TrackType.VIDEO ? 'video' : 'audio';
    const reuse = this.idleTransceivers.findIndex((t) => t.kind === kind);
    const transceiver =
      reuse >= 0
        ? this.idleTransceivers.splice(reuse, 1)[0]!
        : this.subscriber.addTransceiver(kind, { direction: 'sendonly' });
    transceiver.setDirection('sendonly');
    const pli = transceiver.sender.onPictureLossIndication.subscribe(() =>
      forwarder.requestKeyframe(transceiver.sender),
    );
    const ready = transceiver.sender.onReady.subscribe(() => {
      forwarder.requestKeyframe(transceiver.sender, true);
      this.host.onSubscriptionBound(this, forwarder);
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
    if (this.closed || this.negotiationTimer) return;
    // Coalesce the subscribe/unsubscribe burst of one event (a join, a publish) into one offer.
    this.negotiationTimer = setTimeout(() => {
      this.negotiationTimer = undefined;
      this.negotiateSubscriber().catch((err) =>
        this.host.log('subscriber negotiation failed', { identity: this.identity, err: String(err) }),
      );
    }, 20);
  }

  private async negotiateSubscriber(): Promise<void> {
    if (this.closed) return;
    if (this.negotiating) {
      this.negotiationPending = true;
      return;
    }
    this.negotiating = true;
    const shownInactive = this.retiring.filter((r) => r.offerId === undefined);
    let offer: Awaited<ReturnType<RTCPeerConnection['createOffer']>>;
    try {
      offer = await this.subscriber.createOffer();
      await this.subscriber.setLocalDescription(offer);
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
    const sdp = stampMsid(this.subscriber.localDescription?.sdp ?? offer.sdp, labels);
    this.offerId++;
    for (const r of shownInactive) r.offerId = this.offerId;
    // A client that never answers (lost message, stuck peer) must not freeze this connection's
    // subscriptions forever: after a while, offer again.
    clearTimeout(this.answerTimer);
    this.answerTimer = setTimeout(() => {
      if (!this.negotiating || this.closed) return;
      this.negotiating = false;
      this.scheduleNegotiation();
    }, ANSWER_TIMEOUT_MS);
    this.answerTimer.unref();
    const midToTrackId = Object.fromEntries([...labels].map(([mid, l]) => [mid, l.trackSid]));
    this.send({
      case: 'offer',
      value: new SessionDescription({ type: 'offer', sdp, id: this.offerId, midToTrackId }),
    });
  }

  async handleSubscriberAnswer(answer: SessionDescription): Promise<void> {
    if (this.closed || !this.negotiating) return;
    // Clients echo the offer id; an answer to an offer superseded (e.g. across a resume) is stale.
    if (answer.id !== 0 && answer.id !== this.offerId) return;
    clearTimeout(this.answerTimer);
    try {
      const mismatch = answerMismatch(this.subscriber.localDescription?.sdp ?? '', answer.sdp);
      if (mismatch) throw new Error(`answer does not match the offer: ${mismatch}`);
      await this.subscriber.setRemoteDescription({ type: 'answer', sdp: withoutMdnsCandidates(answer.sdp) });
    } catch (err) {
      this.negotiationFailed('answer', err);
      return;
    }
    this.negotiating = false;
    this.negotiationFailures = 0;
    this.releaseRetired(this.offerId);
    // A track added once the (bundled) transport is up never sees its sender's `onReady`: the
    // accepted answer is what binds it. The room tells each publisher once.
    if (this.subscriber.connectionState === 'connected') {
      for (const down of this.downTracks.values()) this.host.onSubscriptionBound(this, down.forwarder);
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
    this.host.log('subscriber negotiation failed', {
      identity: this.identity,
      step,
      attempt: this.negotiationFailures,
      err: String(err),
    });
    if (this.closed) return;
    if (this.negotiationFailures >= MAX_NEGOTIATION_FAILURES) {
      this.negotiationFailures = 0;
      this.send(leaveMessage(LeaveRequest_Action.RECONNECT, DisconnectReason.STATE_MISMATCH));
      this.sink?.close();
      return;
    }
    setTimeout(() => this.scheduleNegotiation(), 200 * this.negotiationFailures).unref();
  }

  /** After a signal resume the client may have lost our last offer: offer again. */
  renegotiateAfterResume(): void {
    this.negotiating = false;
    this.scheduleNegotiation();
  }

  // ---- data ---------------------------------------------------------------------------------------

  /** Sends an already stamped DataPacket to this participant; drops it rather than grow without bound. */
  sendData(bytes: Buffer, kind: DataPacket_Kind): boolean {
    if (this.closed) return false;
    const dc = kind === DataPacket_Kind.LOSSY ? this.dataOut.lossy : this.dataOut.reliable;
    if (dc.readyState !== 'open') {
      if (kind === DataPacket_Kind.LOSSY || this.pendingReliable.length >= MAX_PENDING_DATA) return false;
      this.pendingReliable.push(bytes);
      return true;
    }
    if (dc.bufferedAmount > MAX_DATA_BUFFERED) return false;
    try {
      dc.send(bytes);
      return true;
    } catch {
      return false;
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the participant: media and data stop, the signal socket (if any) is closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const sink = this.sink;
    this.state = ParticipantInfo_State.DISCONNECTED;
    clearTimeout(this.negotiationTimer);
    clearTimeout(this.answerTimer);
    for (const sid of [...this.downTracks.keys()]) {
      const down = this.downTracks.get(sid)!;
      down.unsubscribe();
      down.forwarder.removeSink(down.transceiver.sender);
    }
    this.downTracks.clear();
    for (const f of this.published.values()) f.close();
    this.sink = undefined;
    try {
      sink?.close();
    } catch {}
    this.publisher.close().catch(() => {});
    this.subscriber.close().catch(() => {});
  }
}

function kindToType(kind: string): TrackType {
  return kind === 'video' ? TrackType.VIDEO : TrackType.AUDIO;
}
