import {
  type DataPacket_Kind,
  DisconnectReason,
  LeaveRequest_Action,
  ParticipantInfo_Kind,
  ParticipantInfo_State,
  type ParticipantPermission,
  ParticipantUpdate,
  Room as RoomInfo,
  RoomUpdate,
  SpeakerInfo,
  SpeakersChanged,
  type SubscriptionPermission,
  SubscriptionPermissionUpdate,
  type TrackInfo,
  TrackSubscribed,
  TrackType,
} from '@livekit/protocol';
import { routeDataPacket } from './data-router.ts';
import { newId } from './ids.ts';
import type { TrackForwarder } from './media-forwarder.ts';
import { leaveMessage, type Participant, type ParticipantHost } from './participant.ts';

const SPEAKER_INTERVAL_MS = 300;

/**
 * livekit-server's `ParticipantImpl.IsDependent`: agents and egress participants do not keep a room
 * open (`Room.CloseIfEmpty` ignores them), so a room left with only its agent closes on the departure
 * timeout, and one that only an agent ever joined on the empty timeout.
 */
export function isDependent(p: Participant): boolean {
  return p.kind === ParticipantInfo_Kind.AGENT || p.kind === ParticipantInfo_Kind.EGRESS;
}

/** Room settings, as CreateRoom and livekit.yaml's `room:` section name them. */
export interface RoomOptions {
  /** Seconds an empty room that never had a participant lives. */
  emptyTimeout: number;
  /** Seconds a room lives after its last participant left (agents do not count: see {@link isDependent}). */
  departureTimeout: number;
  /** 0 = unlimited. */
  maxParticipants: number;
  metadata: string;
  /** Whether the server API may unmute a participant's track (`room.enable_remote_unmute`). */
  enableRemoteUnmute: boolean;
}

/** What a room reports to its registry (which turns it into directory events: dispatch, webhooks). */
export interface RoomCallbacks {
  /** `wasActive`: its transport ever came up (livekit-server's participant_left vs connection_aborted). */
  onParticipantLeft(room: Room, p: Participant, wasActive: boolean): void;
  /** The participant's connection is up (state ACTIVE): what livekit-server calls "joined". */
  onParticipantActive(room: Room, p: Participant): void;
  /** A track's media arrived and it was announced to the room. */
  onTrackPublished(room: Room, p: Participant, track: TrackInfo): void;
  /** An announced track went away: unpublished, or its participant left. */
  onTrackUnpublished(room: Room, p: Participant, track: TrackInfo): void;
  onEmptyTimeout(room: Room): void;
  log(msg: string, extra?: Record<string, unknown>): void;
}

/**
 * A room: its participants (by identity), the routing of their tracks (who receives what) and of their
 * data packets, and the participant-update fan-out every client builds its view of the room from.
 */
export class Room implements ParticipantHost {
  readonly sid = newId('RM_');
  readonly name: string;
  readonly createdAt = Date.now();
  readonly participants = new Map<string, Participant>();
  options: RoomOptions;
  private readonly callbacks: RoomCallbacks;
  private emptyTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly speakerTimer: NodeJS.Timeout;
  /** Participant sid → level, of those currently speaking. */
  private speaking = new Map<string, number>();

  constructor(name: string, options: RoomOptions, callbacks: RoomCallbacks) {
    this.name = name;
    this.options = options;
    this.callbacks = callbacks;
    this.armEmptyTimer(options.emptyTimeout);
    this.speakerTimer = setInterval(() => this.updateSpeakers(), SPEAKER_INTERVAL_MS);
    this.speakerTimer.unref();
  }

  /** Active-speaker detection from publishers' audio levels; sends `speakersChanged` on changes only. */
  private updateSpeakers(): void {
    const now = new Map<string, number>();
    for (const p of this.participants.values()) {
      let level = 0;
      for (const f of p.announcedTracks()) {
        if (f.info.type !== TrackType.AUDIO) continue;
        const activity = f.takeAudioActivity();
        if (activity.active) level = Math.max(level, activity.level);
      }
      if (level > 0) now.set(p.sid, level);
    }
    const changed: SpeakerInfo[] = [];
    for (const [sid, level] of now) {
      if (!this.speaking.has(sid)) changed.push(new SpeakerInfo({ sid, level, active: true }));
    }
    for (const sid of this.speaking.keys()) {
      if (!now.has(sid)) changed.push(new SpeakerInfo({ sid, level: 0, active: false }));
    }
    this.speaking = now;
    if (changed.length === 0) return;
    const message = new SpeakersChanged({ speakers: changed });
    for (const p of this.participants.values()) p.send({ case: 'speakersChanged', value: message });
  }

  toInfo(): RoomInfo {
    const list = [...this.participants.values()];
    return new RoomInfo({
      sid: this.sid,
      name: this.name,
      emptyTimeout: this.options.emptyTimeout,
      departureTimeout: this.options.departureTimeout,
      maxParticipants: this.options.maxParticipants,
      creationTime: BigInt(Math.floor(this.createdAt / 1000)),
      creationTimeMs: BigInt(this.createdAt),
      metadata: this.options.metadata,
      numParticipants: list.filter((p) => !p.hidden).length,
      numPublishers: list.filter((p) => p.announcedTracks().length > 0).length,
    });
  }

  get isFull(): boolean {
    return this.options.maxParticipants > 0 && this.participants.size >= this.options.maxParticipants;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Adds a participant (replacing one with the same identity) and returns the others' infos for its JoinResponse. */
  admit(p: Participant) {
    const previous = this.participants.get(p.identity);
    if (previous) this.remove(previous, DisconnectReason.DUPLICATE_IDENTITY);
    if (!isDependent(p)) {
      clearTimeout(this.emptyTimer);
      this.emptyTimer = undefined;
    }
    this.participants.set(p.identity, p);
    p.touch();
    const others = [...this.participants.values()].filter((o) => o !== p && !o.hidden).map((o) => o.toInfo());
    return others;
  }

  /** After the JoinResponse went out: announce the newcomer and start its subscriptions. */
  activate(p: Participant): void {
    if (!p.hidden) this.broadcast(p, { exclude: p });
    p.start();
    if (p.autoSubscribe) {
      for (const other of this.participants.values()) {
        if (other === p) continue;
        for (const f of other.announcedTracks()) this.subscribe(p, other, f);
      }
    }
  }

  /**
   * Subscribes `subscriber` to `publisher`'s track unless the publisher's subscription permissions
   * leave it out; then, like livekit-server, the subscriber is told (`subscriptionPermissionUpdate`)
   * and the publication stays listed for it.
   */
  subscribe(subscriber: Participant, publisher: Participant, forwarder: TrackForwarder): void {
    if (publisher.allowsSubscriber(forwarder.info.sid, subscriber)) subscriber.subscribe(forwarder);
    else this.tellPermission(subscriber, publisher, forwarder, false);
  }

  /** A publisher's new subscription permissions take effect at once: subscriptions stop and start to match. */
  setSubscriptionPermission(publisher: Participant, permission: SubscriptionPermission): void {
    publisher.subscriptionPermission = permission;
    for (const other of this.participants.values()) {
      if (other === publisher) continue;
      for (const f of publisher.announcedTracks()) {
        const sid = f.info.sid;
        const allowed = publisher.allowsSubscriber(sid, other);
        if (!allowed && other.isSubscribedTo(sid)) {
          other.unsubscribe(sid);
          this.tellPermission(other, publisher, f, false);
        } else if (allowed && !other.isSubscribedTo(sid) && (other.autoSubscribe || other.wanted.has(sid))) {
          other.subscribe(f);
          this.tellPermission(other, publisher, f, true);
        }
      }
    }
  }

  private tellPermission(to: Participant, publisher: Participant, f: TrackForwarder, allowed: boolean): void {
    to.send({
      case: 'subscriptionPermissionUpdate',
      value: new SubscriptionPermissionUpdate({
        participantSid: publisher.sid,
        trackSid: f.info.sid,
        allowed,
      }),
    });
  }

  /** Removes a participant: server leave to it (unless it left itself), DISCONNECTED to the others. */
  remove(p: Participant, reason: DisconnectReason): void {
    if (this.participants.get(p.identity) !== p) return;
    this.participants.delete(p.identity);
    if (reason !== DisconnectReason.CLIENT_INITIATED) {
      p.send(leaveMessage(LeaveRequest_Action.DISCONNECT, reason));
    }
    for (const f of p.published.values()) {
      for (const other of this.participants.values()) other.unsubscribe(f.info.sid);
    }
    const tracks = p.announcedTracks().map((f) => f.info);
    const wasActive = p.state === ParticipantInfo_State.ACTIVE;
    p.close();
    p.touch();
    const info = p.toInfo();
    info.state = ParticipantInfo_State.DISCONNECTED;
    info.disconnectReason = reason;
    if (!p.hidden) this.sendUpdate(info);
    for (const track of tracks) this.report(() => this.callbacks.onTrackUnpublished(this, p, track));
    this.report(() => this.callbacks.onParticipantLeft(this, p, wasActive));
    // An agent leaving a room without people does not restart the departure countdown.
    if (!this.closed && !isDependent(p) && this.independentCount() === 0)
      this.armEmptyTimer(this.options.departureTimeout);
  }

  /** Participants that keep the room open: everyone but agents (and egress). */
  private independentCount(): number {
    let n = 0;
    for (const p of this.participants.values()) if (!isDependent(p)) n++;
    return n;
  }

  private armEmptyTimer(seconds: number): void {
    clearTimeout(this.emptyTimer);
    this.emptyTimer = setTimeout(() => {
      if (this.independentCount() === 0) this.callbacks.onEmptyTimeout(this);
    }, Math.max(0, seconds) * 1000);
    this.emptyTimer.unref();
  }

  /** Ends the room: everyone gets a server leave with `reason`. */
  close(reason: DisconnectReason = DisconnectReason.ROOM_DELETED): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.emptyTimer);
    clearInterval(this.speakerTimer);
    for (const p of [...this.participants.values()]) this.remove(p, reason);
  }

  /** Sends `p`'s current info to everyone (including itself, which is how self-updates are confirmed). */
  broadcast(p: Participant, opts: { exclude?: Participant } = {}): void {
    const info = p.toInfo();
    this.sendUpdate(info, opts.exclude, p.hidden ? p : undefined);
  }

  private sendUpdate(
    info: ReturnType<Participant['toInfo']>,
    exclude?: Participant,
    only?: Participant,
  ): void {
    const update = new ParticipantUpdate({ participants: [info] });
    for (const other of this.participants.values()) {
      if (other === exclude || (only && other !== only)) continue;
      other.send({ case: 'update', value: update });
    }
  }

  /** New room metadata (UpdateRoomMetadata): every participant gets the room's info again. */
  setMetadata(metadata: string): RoomInfo {
    this.options = { ...this.options, metadata };
    const info = this.toInfo();
    for (const p of this.participants.values())
      p.send({ case: 'roomUpdate', value: new RoomUpdate({ room: info }) });
    return info;
  }

  /**
   * Subscribes `p` to (or unsubscribes it from) tracks by sid, the way its own `subscription` request
   * and the server API's UpdateSubscriptions both ask; subscribing still honours the publisher's
   * subscription permissions.
   */
  updateSubscriptions(p: Participant, trackSids: Iterable<string>, subscribe: boolean): void {
    for (const sid of trackSids) {
      if (!subscribe) {
        p.wanted.delete(sid);
        p.unsubscribe(sid);
        continue;
      }
      p.wanted.add(sid);
      for (const other of this.participants.values()) {
        const f = other !== p ? other.published.get(sid) : undefined;
        if (f?.announced) this.subscribe(p, other, f);
      }
    }
  }

  /**
   * A server-side permission change (UpdateParticipant) takes effect at once: tracks it may no longer
   * publish are unpublished, subscriptions stop when canSubscribe is revoked and start when granted.
   */
  setPermission(p: Participant, permission: ParticipantPermission): void {
    const before = p.permission;
    p.permission = permission;
    for (const f of [...p.published.values()]) {
      if (!p.mayPublish(f.info.source)) p.unpublish(f.info.sid);
    }
    if (!permission.canSubscribe) {
      for (const sid of p.subscribedTrackSids()) p.unsubscribe(sid);
    } else if (!before.canSubscribe && p.autoSubscribe) {
      for (const other of this.participants.values()) {
        if (other !== p) for (const f of other.announcedTracks()) this.subscribe(p, other, f);
      }
    }
  }

  sendData(bytes: Uint8Array, kind: DataPacket_Kind) {
    return routeDataPacket(bytes, kind, undefined, this.participants.values());
  }

  // ---- ParticipantHost ----------------------------------------------------------------------------

  onPublisherTrack(p: Participant, forwarder: TrackForwarder): void {
    this.broadcast(p);
    this.report(() => this.callbacks.onTrackPublished(this, p, forwarder.info));
    for (const other of this.participants.values()) {
      if (other !== p && other.autoSubscribe) this.subscribe(other, p, forwarder);
    }
  }

  onSubscriptionBound(_subscriber: Participant, forwarder: TrackForwarder): void {
    // Like livekit-server, the publisher hears once that its track has a subscriber: SDKs surface it
    // as `localTrackSubscribed`, and agent frameworks wait for it before they start speaking.
    if (forwarder.subscriberNotified) return;
    const publisher = [...this.participants.values()].find((x) => x.sid === forwarder.publisherSid);
    if (!publisher) return;
    forwarder.subscriberNotified = true;
    publisher.send({ case: 'trackSubscribed', value: new TrackSubscribed({ trackSid: forwarder.info.sid }) });
  }

  onTrackUnpublished(p: Participant, forwarder: TrackForwarder): void {
    for (const other of this.participants.values()) other.unsubscribe(forwarder.info.sid);
    this.broadcast(p);
    this.report(() => this.callbacks.onTrackUnpublished(this, p, forwarder.info));
  }

  onInfoChanged(p: Participant): void {
    this.broadcast(p);
  }

  onActive(p: Participant): void {
    if (this.participants.get(p.identity) !== p) return;
    p.touch();
    this.broadcast(p);
    this.report(() => this.callbacks.onParticipantActive(this, p));
  }

  /** A registry callback that throws must not break the join, publish or leave that triggered it. */
  private report(callback: () => void): void {
    try {
      callback();
    } catch (err) {
      this.callbacks.log('room event handler failed', { room: this.name, err: String(err) });
    }
  }

  onData(p: Participant, bytes: Buffer, kind: DataPacket_Kind): void {
    const result = routeDataPacket(bytes, kind, p, this.participants.values());
    if ('dropped' in result)
      this.log('data packet dropped', { identity: p.identity, reason: result.dropped });
  }

  log(msg: string, extra?: Record<string, unknown>): void {
    this.callbacks.log(msg, { room: this.name, ...extra });
  }
}
