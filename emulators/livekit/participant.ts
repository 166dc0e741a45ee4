import {
  DataPacket_Kind,
  MuteTrackRequest,
  ParticipantInfo,
  ParticipantInfo_Kind,
  ParticipantInfo_State,
  type ParticipantPermission,
  type SessionDescription,
  SignalTarget,
  type SubscriptionPermission,
  type TrackInfo,
  type TrackSource,
  TrackUnpublishedResponse,
  type UpdateTrackSettings,
} from '@livekit/protocol';
import type { RTCDataChannel, RTCPeerConnection } from 'werift';
import type { JoinGrants } from './auth.ts';
import { newId } from './ids.ts';
import type { TrackForwarder } from './media-forwarder.ts';
import { allowsSubscriber, mayPublish, permissionFromGrants } from './participant-permissions.ts';
import { PublisherNegotiation } from './participant-publisher.ts';
import { SignalLink, type SignalMessage, type SignalSink } from './participant-signal.ts';
import { SubscriberNegotiation } from './participant-subscriber.ts';
import { createPeerConnection, isMdnsCandidate, type PeerOptions } from './peer.ts';

export { leaveMessage, type SignalMessage, type SignalSink } from './participant-signal.ts';

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

/** Bytes a subscriber's data channel may hold before further packets to it are dropped. */
const MAX_DATA_BUFFERED = 8 * 1024 * 1024;
/** Reliable packets kept for a subscriber whose data channel is not open yet. */
const MAX_PENDING_DATA = 512;

/**
 * One participant in a room: its identity and grants, its two peer connections (publisher: the client
 * offers and sends media/data to us, `participant-publisher.ts`; subscriber: we offer and send
 * media/data to the client, `participant-subscriber.ts` — LiveKit's "subscriber primary" layout), the
 * tracks it publishes and the ones it receives, its data channels and its signal link.
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
  private readonly signal = new SignalLink();
  private readonly publisher: RTCPeerConnection;
  private readonly subscriber: RTCPeerConnection;
  private readonly publishing: PublisherNegotiation;
  private readonly subscriptions: SubscriberNegotiation;
  private readonly dataOut: { reliable: RTCDataChannel; lossy: RTCDataChannel };
  private readonly pendingReliable: Buffer[] = [];
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
    this.permission = permissionFromGrants(grants);

    const log = (msg: string, extra?: Record<string, unknown>) => this.host.log(msg, extra);
    const isClosed = () => this.closed;
    const send = (message: SignalMessage) => this.send(message);

    this.publisher = createPeerConnection(options.peer);
    this.publishing = new PublisherNegotiation(this.publisher, {
      identity: this.identity,
      isClosed,
      published: this.published,
      send,
      unpublish: (trackSid) => this.unpublish(trackSid),
      announce: (forwarder) => {
        this.touch();
        this.host.onPublisherTrack(this, forwarder);
      },
      log,
    });
    this.publisher.onDataChannel.subscribe((dc) => {
      const kind = dc.label === '_lossy' ? DataPacket_Kind.LOSSY : DataPacket_Kind.RELIABLE;
      dc.onMessage.subscribe((msg) => {
        if (typeof msg !== 'string') this.host.onData(this, msg, kind);
      });
    });

    this.subscriber = createPeerConnection(options.peer);
    this.subscriptions = new SubscriberNegotiation(this.subscriber, {
      identity: this.identity,
      isClosed,
      canSubscribe: () => this.permission.canSubscribe,
      send,
      closeSignal: () => this.signal.closeSocket(),
      onBound: (forwarder) => this.host.onSubscriptionBound(this, forwarder),
      log,
    });
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
    return this.signal.connected;
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
    return allowsSubscriber(this.subscriptionPermission, trackSid, subscriber);
  }

  /** Publications whose media has arrived: the ones the room is told about. */
  announcedTracks(): TrackForwarder[] {
    return [...this.published.values()].filter((f) => f.announced);
  }

  /** Bumps the info version; clients ignore updates whose version is not newer than what they hold. */
  touch(): void {
    this.version++;
  }

  // ---- signal connection (participant-signal.ts) --------------------------------------------------

  attachSignal(sink: SignalSink): void {
    this.signal.attach(sink);
  }

  /** Signals queued during a socket drop, for a resume; undefined if some were lost. */
  takeMissedSignals(): SignalMessage[] | undefined {
    return this.signal.takeMissed();
  }

  detachSignal(sink: SignalSink): void {
    this.signal.detach(sink);
  }

  send(message: SignalMessage): void {
    if (this.closed) return;
    try {
      this.signal.send(message);
    } catch (err) {
      this.host.log('signal send failed', { identity: this.identity, err: String(err) });
    }
  }

  /** Publishing permission for a source, per the token's canPublish / canPublishSources. */
  mayPublish(source: TrackSource): boolean {
    return mayPublish(this.permission, source);
  }

  // ---- publisher connection (client offers; participant-publisher.ts) -----------------------------

  /** Serialises publisher negotiations: each offer is applied and answered in arrival order. */
  handlePublisherOffer(offer: SessionDescription): void {
    this.publishing.handleOffer(offer);
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

  // ---- subscriber connection (server offers; participant-subscriber.ts) ---------------------------

  /** Starts the subscriber connection (data channels, and media as subscriptions come). */
  start(): void {
    this.subscriptions.start();
  }

  subscribedTrackSids(): string[] {
    return this.subscriptions.subscribedTrackSids();
  }

  isSubscribedTo(trackSid: string): boolean {
    return this.subscriptions.isSubscribedTo(trackSid);
  }

  subscribe(forwarder: TrackForwarder): void {
    this.subscriptions.subscribe(forwarder);
  }

  /** `trackSetting`: the subscriber's quality/size wish and pause for tracks it receives. */
  updateTrackSettings(settings: UpdateTrackSettings): void {
    this.subscriptions.updateTrackSettings(settings);
  }

  unsubscribe(trackSid: string): void {
    this.subscriptions.unsubscribe(trackSid);
  }

  handleSubscriberAnswer(answer: SessionDescription): Promise<void> {
    return this.subscriptions.handleAnswer(answer);
  }

  /** After a signal resume the client may have lost our last offer: offer again. */
  renegotiateAfterResume(): void {
    this.subscriptions.renegotiateAfterResume();
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
    this.state = ParticipantInfo_State.DISCONNECTED;
    this.subscriptions.stop();
    for (const f of this.published.values()) f.close();
    this.signal.close();
    this.publisher.close().catch(() => {});
    this.subscriber.close().catch(() => {});
  }
}
