import {
  DisconnectReason,
  JoinResponse,
  LeaveRequest_Action,
  ParticipantUpdate,
  Pong,
  ReconnectResponse,
  RequestResponse,
  RequestResponse_Reason,
  SignalRequest,
  SignalResponse,
  type SimulateScenario,
  SubscribedCodec,
  SubscribedQualityUpdate,
  TrackInfo,
  TrackPublishedResponse,
  TrackType,
} from '@livekit/protocol';
import type { WebSocket } from 'ws';
import type { ApiKeys } from './api-keys.ts';
import { type JoinGrants, mintRefreshToken } from './auth.ts';
import { newId } from './ids.ts';
import { checkParticipantUpdate, LIMITS } from './limits.ts';
import { TrackForwarder } from './media-forwarder.ts';
import { leaveMessage, Participant, type SignalMessage, type SignalSink } from './participant.ts';
import type { PeerOptions } from './peer.ts';
import type { Room } from './room.ts';
import { mergeAttributes, type RoomRegistry } from './room-registry.ts';
import { SERVER_VERSION, serverInfo } from './server-info.ts';

export interface SignalOptions {
  /** Seconds between client pings (sent to clients in the JoinResponse). */
  pingInterval: number;
  /** Seconds without any client message before the signal socket is considered dead. */
  pingTimeout: number;
  /** Milliseconds a participant whose signal socket dropped is kept for a resume. */
  reconnectGrace: number;
  /** Largest queued outbound signal bytes before a slow client is cut off. */
  maxBufferedBytes: number;
  /** Milliseconds between `refreshToken` messages (0 = never). */
  tokenRefreshInterval: number;
  /** Lifetime of refreshed tokens, seconds. */
  refreshedTokenTtl: number;
  /** Network settings for participants' peer connections. */
  peer: PeerOptions;
  /** API key → secret, to sign refreshed tokens. */
  keys: ApiKeys;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

/** The `/rtc` query a client connects with (v0 protocol). */
export interface JoinQuery {
  reconnect: boolean;
  sid: string | undefined;
  autoSubscribe: boolean;
  clientProtocol: number;
}

export function parseJoinQuery(url: URL): JoinQuery {
  const q = url.searchParams;
  return {
    reconnect: q.get('reconnect') === '1' || q.get('reconnect') === 'true',
    sid: q.get('sid') ?? undefined,
    autoSubscribe: q.get('auto_subscribe') !== '0' && q.get('auto_subscribe') !== 'false',
    clientProtocol: Number(q.get('client_protocol') ?? 0) || 0,
  };
}

/**
 * One client's signal WebSocket: binary `SignalRequest` in, `SignalResponse` out. Joins (or resumes) the
 * participant, then translates each request into participant/room operations. A dropped socket leaves
 * the participant in the room for `reconnectGrace` so the client can resume.
 */
export class SignalSession {
  private readonly ws: WebSocket;
  private readonly options: SignalOptions;
  private readonly registry: RoomRegistry;
  private room!: Room;
  private participant!: Participant;
  private readonly sink: SignalSink;
  private livenessTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private grants!: JoinGrants;

  constructor(ws: WebSocket, registry: RoomRegistry, options: SignalOptions) {
    this.ws = ws;
    this.registry = registry;
    this.options = options;
    this.sink = {
      send: (message) => this.write(message),
      close: () => this.ws.close(1000),
    };
  }

  /** A fresh join: admits the participant and sends the JoinResponse, then the first subscriber offer. */
  join(grants: JoinGrants, query: JoinQuery): void {
    this.grants = grants;
    const existed = this.registry.room(grants.room) !== undefined;
    const room = this.registry.openRoom(grants.room, grants.agents);
    const participant = new Participant(grants, room, {
      clientProtocol: query.clientProtocol,
      autoSubscribe: query.autoSubscribe,
      peer: this.options.peer,
    });
    this.room = room;
    this.participant = participant;
    const others = room.admit(participant);
    participant.attachSignal(this.sink);
    this.write({
      case: 'join',
      value: new JoinResponse({
        room: room.toInfo(),
        participant: participant.toInfo(),
        otherParticipants: others,
        serverVersion: SERVER_VERSION,
        serverRegion: 'local',
        subscriberPrimary: true,
        // As livekit-server does for publishers: the client sets up its publisher connection at join
        // and queues each later negotiation behind the pending answer. Without it the Rust SDK (rtc-node,
        // agents) debounces instead, and a publish while an offer is still unanswered (a slow answer on
        // a loaded machine) wedges its publisher transport and its whole signal loop: the track is
        // never offered and no later subscriber offer is answered.
        fastPublish: participant.permission.canPublish,
        pingInterval: this.options.pingInterval,
        pingTimeout: this.options.pingTimeout,
        serverInfo: serverInfo(),
      }),
    });
    room.activate(participant);
    if (existed) this.registry.announceJoin(room, participant, grants.agents);
    this.listen();
  }

  /** A resume (`reconnect=1&sid=…`): reattach to the participant if it is still in the room. */
  resume(grants: JoinGrants, query: JoinQuery): void {
    this.grants = grants;
    const room = this.registry.room(grants.room);
    const participant = room?.participants.get(grants.identity);
    if (!room || !participant || participant.sid !== query.sid || participant.isClosed) {
      // Unknown session: ask for a full reconnect (a fresh join), as LiveKit does after a node restart.
      this.askFullReconnect();
      return;
    }
    if (participant.dropNextResume) {
      participant.dropNextResume = false;
      this.ws.terminate();
      return;
    }
    const missed = participant.takeMissedSignals();
    if (!missed) {
      // Too much happened while it was away: a fresh join is the only faithful state.
      this.refuseResume(room, participant);
      return;
    }
    this.room = room;
    this.participant = participant;
    participant.attachSignal(this.sink);
    this.write({
      case: 'reconnect',
      value: new ReconnectResponse({ iceServers: [], serverInfo: serverInfo() }),
    });
    const others = [...room.participants.values()].filter((o) => o !== participant && !o.hidden);
    if (others.length > 0) {
      this.write({
        case: 'update',
        value: new ParticipantUpdate({ participants: others.map((o) => o.toInfo()) }),
      });
    }
    for (const message of missed) this.write(message);
    participant.renegotiateAfterResume();
    this.listen();
  }

  private refuseResume(room: Room, participant: Participant): void {
    this.askFullReconnect();
    room.remove(participant, DisconnectReason.STATE_MISMATCH);
  }

  private askFullReconnect(): void {
    this.write(leaveMessage(LeaveRequest_Action.RECONNECT, DisconnectReason.STATE_MISMATCH));
    this.ws.close(1000);
  }

  private listen(): void {
    this.armLiveness();
    if (this.options.tokenRefreshInterval > 0) {
      this.refreshTimer = setInterval(() => this.refreshToken(), this.options.tokenRefreshInterval);
      this.refreshTimer.unref();
    }
    this.ws.on('message', (data, isBinary) => {
      this.armLiveness();
      if (!isBinary) return; // protojson signalling is not used by the SDKs this server targets
      let request: SignalRequest;
      try {
        request = SignalRequest.fromBinary(toBytes(data));
      } catch {
        this.options.log('malformed signal request ignored', { identity: this.participant.identity });
        return;
      }
      try {
        this.handle(request);
      } catch (err) {
        this.options.log('signal request failed', { identity: this.participant.identity, err: String(err) });
      }
    });
    this.ws.on('close', () => this.onSocketClosed());
    this.ws.on('error', () => {});
  }

  private armLiveness(): void {
    clearTimeout(this.livenessTimer);
    this.livenessTimer = setTimeout(() => this.ws.terminate(), this.options.pingTimeout * 1000);
    this.livenessTimer.unref();
  }

  private refreshToken(): void {
    mintRefreshToken(this.grants, this.options.keys, this.options.refreshedTokenTtl).then(
      (token) => {
        if (token) this.write({ case: 'refreshToken', value: token });
      },
      (err) => this.options.log('token refresh failed', { err: String(err) }),
    );
  }

  private onSocketClosed(): void {
    clearTimeout(this.livenessTimer);
    clearInterval(this.refreshTimer);
    const p = this.participant;
    p.detachSignal(this.sink);
    if (p.isClosed || p.connected) return;
    const grace = setTimeout(() => {
      if (!p.connected && !p.isClosed) this.room.remove(p, DisconnectReason.SIGNAL_CLOSE);
    }, this.options.reconnectGrace);
    grace.unref();
  }

  private write(message: SignalMessage): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount > this.options.maxBufferedBytes) {
      this.options.log('slow signal client cut off', { identity: this.participant?.identity });
      this.ws.terminate();
      return false;
    }
    this.ws.send(new SignalResponse({ message }).toBinary());
    return true;
  }

  /** Chaos scenarios clients ask for in their own tests (`simulateScenario`), as livekit-server does. */
  private simulate(scenario: SimulateScenario['scenario']): void {
    switch (scenario.case) {
      case 'nodeFailure':
      case 'leaveRequestFullReconnect':
        this.askFullReconnect();
        return;
      case 'migration':
        this.write(leaveMessage(LeaveRequest_Action.RESUME, DisconnectReason.MIGRATION));
        this.ws.close(1000);
        return;
      case 'serverLeave':
        this.room.remove(this.participant, DisconnectReason.SERVER_SHUTDOWN);
        return;
      case 'disconnectSignalOnResume':
      case 'disconnectSignalOnResumeNoMessages':
        // The client then resumes; that resume is cut, which drives it to a full reconnect.
        this.participant.dropNextResume = true;
        return;
      default:
        return;
    }
  }

  private handle(request: SignalRequest): void {
    const p = this.participant;
    const m = request.message;
    switch (m.case) {
      case 'offer':
        p.handlePublisherOffer(m.value);
        return;
      case 'answer':
        p.handleSubscriberAnswer(m.value).catch((err) =>
          this.options.log('subscriber answer rejected', { identity: p.identity, err: String(err) }),
        );
        return;
      case 'trickle':
        p.addIceCandidate(m.value.target, m.value.candidateInit);
        return;
      case 'addTrack': {
        const req = m.value;
        if (!p.mayPublish(req.source)) {
          this.write({
            case: 'requestResponse',
            value: new RequestResponse({
              reason: RequestResponse_Reason.NOT_ALLOWED,
              message: 'permission denied: cannot publish this source',
              request: { case: 'addTrack', value: req },
            }),
          });
          return;
        }
        if (p.published.size >= LIMITS.tracksPerParticipant) {
          this.write({
            case: 'requestResponse',
            value: new RequestResponse({
              reason: RequestResponse_Reason.LIMIT_EXCEEDED,
              message: `at most ${LIMITS.tracksPerParticipant} published tracks`,
              request: { case: 'addTrack', value: req },
            }),
          });
          return;
        }
        const existing = p.findPendingPublication(req.cid);
        if (existing) {
          this.write({
            case: 'trackPublished',
            value: new TrackPublishedResponse({ cid: req.cid, track: existing.info }),
          });
          return;
        }
        const info = new TrackInfo({
          sid: req.sid || newId('TR_'),
          type: req.type,
          name: req.name,
          muted: req.muted,
          width: req.width,
          height: req.height,
          simulcast: req.type === TrackType.VIDEO && req.layers.length > 1,
          disableDtx: req.disableDtx,
          source: req.source,
          layers: req.layers,
          mimeType: req.type === TrackType.VIDEO ? 'video/VP8' : 'audio/opus',
          stereo: req.stereo,
          disableRed: true,
          encryption: req.encryption,
          stream: req.stream,
          audioFeatures: req.audioFeatures,
        });
        const forwarder = new TrackForwarder(info, req.cid, p.sid);
        forwarder.onQualitiesWanted = (qualities) =>
          p.send({
            case: 'subscribedQualityUpdate',
            value: new SubscribedQualityUpdate({
              trackSid: info.sid,
              subscribedQualities: qualities,
              subscribedCodecs: [new SubscribedCodec({ codec: 'vp8', qualities })],
            }),
          });
        this.write({
          case: 'trackPublished',
          value: new TrackPublishedResponse({ cid: req.cid, track: info }),
        });
        p.addPublication(forwarder);
        return;
      }
      case 'mute':
        p.setTrackMuted(m.value.sid, m.value.muted);
        return;
      case 'subscription':
        this.room.updateSubscriptions(
          p,
          new Set([...m.value.trackSids, ...m.value.participantTracks.flatMap((pt) => pt.trackSids)]),
          m.value.subscribe,
        );
        return;
      case 'leave':
        this.room.remove(p, DisconnectReason.CLIENT_INITIATED);
        this.ws.close(1000);
        return;
      case 'ping':
        this.write({ case: 'pong', value: BigInt(Date.now()) });
        return;
      case 'pingReq':
        this.write({
          case: 'pongResp',
          value: new Pong({ lastPingTimestamp: m.value.timestamp, timestamp: BigInt(Date.now()) }),
        });
        return;
      case 'updateMetadata': {
        const req = m.value;
        if (!p.permission.canUpdateMetadata) {
          this.write({
            case: 'requestResponse',
            value: new RequestResponse({
              requestId: req.requestId,
              reason: RequestResponse_Reason.NOT_ALLOWED,
              message: 'permission denied: canUpdateOwnMetadata is not granted',
              request: { case: 'updateMetadata', value: req },
            }),
          });
          return;
        }
        const tooBig = checkParticipantUpdate(p, req);
        if (tooBig) {
          this.write({
            case: 'requestResponse',
            value: new RequestResponse({
              requestId: req.requestId,
              reason: RequestResponse_Reason.LIMIT_EXCEEDED,
              message: tooBig,
              request: { case: 'updateMetadata', value: req },
            }),
          });
          return;
        }
        if (req.name) p.name = req.name;
        if (req.metadata) p.metadata = req.metadata;
        mergeAttributes(p.attributes, req.attributes);
        p.touch();
        this.room.broadcast(p);
        this.write({
          case: 'requestResponse',
          value: new RequestResponse({ requestId: req.requestId, reason: RequestResponse_Reason.OK }),
        });
        return;
      }
      case 'simulate':
        this.simulate(m.value.scenario);
        return;
      case 'subscriptionPermission':
        this.room.setSubscriptionPermission(p, m.value);
        return;
      case 'trackSetting':
        p.updateTrackSettings(m.value);
        return;
      case 'syncState':
      case 'updateLayers':
      case 'updateAudioTrack':
      case 'updateVideoTrack':
      case undefined:
        return;
      default:
        // Data tracks and blobs (newer protocol): say so, so clients fail fast instead of waiting.
        this.write({
          case: 'requestResponse',
          value: new RequestResponse({
            reason: RequestResponse_Reason.UNSUPPORTED_TYPE,
            message: `${m.case} is not supported by the dev server`,
          }),
        });
    }
  }
}

function toBytes(data: unknown): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data as Buffer;
}
