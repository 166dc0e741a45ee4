import {
  DataPacket,
  DataPacket_Kind,
  DisconnectReason,
  type ParticipantInfo,
  ParticipantInfo_State,
  type Room as RoomInfo,
  type TrackInfo,
  UserPacket,
} from '@livekit/protocol';
import { checkParticipantUpdate } from './limits.ts';
import type { Participant } from './participant.ts';
import { Room, type RoomOptions } from './room.ts';
import type { ParticipantUpdate, RoomDirectory, RoomDirectoryEvents } from './room-directory.ts';

export type Logger = (msg: string, extra?: Record<string, unknown>) => void;

/**
 * All rooms of the server, by name. Implements the {@link RoomDirectory} seam the control plane uses,
 * and fires its lifecycle events — listeners are isolated: one that throws is logged, never allowed to
 * break a join or a leave.
 */
export class RoomRegistry implements RoomDirectory {
  private readonly rooms = new Map<string, Room>();
  private readonly listeners: { [E in keyof RoomDirectoryEvents]: Set<RoomDirectoryEvents[E]> } = {
    roomStarted: new Set(),
    participantJoined: new Set(),
    participantActive: new Set(),
    participantLeft: new Set(),
    trackPublished: new Set(),
    trackUnpublished: new Set(),
    roomFinished: new Set(),
  };
  private readonly defaults: RoomOptions;
  private readonly log: Logger;

  constructor(defaults: Partial<RoomOptions>, log: Logger) {
    this.defaults = {
      emptyTimeout: 300,
      departureTimeout: 20,
      enableRemoteUnmute: false,
      maxParticipants: 0,
      metadata: '',
      ...defaults,
    };
    this.log = log;
  }

  on<E extends keyof RoomDirectoryEvents>(event: E, listener: RoomDirectoryEvents[E]): () => void {
    this.listeners[event].add(listener);
    return () => {
      this.listeners[event].delete(listener);
    };
  }

  private emit<E extends keyof RoomDirectoryEvents>(
    event: E,
    ...args: Parameters<RoomDirectoryEvents[E]>
  ): void {
    for (const listener of this.listeners[event]) {
      try {
        const result = (listener as (...a: unknown[]) => unknown)(...args);
        if (result instanceof Promise)
          result.catch((err) => this.log(`${event} listener failed`, { err: String(err) }));
      } catch (err) {
        this.log(`${event} listener threw`, { err: String(err) });
      }
    }
  }

  /** The live room object (core use). `agents` are the creating token's dispatches when it is new. */
  openRoom(
    name: string,
    agents: { agentName: string; metadata: string }[] = [],
    options: Partial<RoomOptions> = {},
  ): Room {
    const existing = this.rooms.get(name);
    if (existing) return existing;
    const room = new Room(
      name,
      { ...this.defaults, ...options },
      {
        onParticipantLeft: (r, p, wasActive) =>
          this.emit('participantLeft', r.toInfo(), participantLeftInfo(p), wasActive),
        onParticipantActive: (r, p) => this.emit('participantActive', r.toInfo(), p.toInfo()),
        onTrackPublished: (r, p, track) => this.emit('trackPublished', r.toInfo(), p.toInfo(), track),
        onTrackUnpublished: (r, p, track) => this.emit('trackUnpublished', r.toInfo(), p.toInfo(), track),
        onEmptyTimeout: (r) => this.finish(r, DisconnectReason.ROOM_CLOSED),
        log: this.log,
      },
    );
    this.rooms.set(name, room);
    this.emit('roomStarted', room.toInfo(), agents);
    return room;
  }

  /** Room object by name (core use). */
  room(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  /** Fires participantJoined for a participant that entered an already running room. */
  announceJoin(room: Room, p: Participant, agents: { agentName: string; metadata: string }[]): void {
    this.emit('participantJoined', room.toInfo(), p.toInfo(), agents);
  }

  private finish(room: Room, reason: DisconnectReason): void {
    if (this.rooms.get(room.name) !== room) return;
    this.rooms.delete(room.name);
    room.close(reason);
    this.emit('roomFinished', room.toInfo());
  }

  /** Closes every room (server shutdown). */
  closeAll(): void {
    for (const room of [...this.rooms.values()]) this.finish(room, DisconnectReason.SERVER_SHUTDOWN);
  }

  // ---- RoomDirectory ------------------------------------------------------------------------------

  ensureRoom(
    name: string,
    options: {
      metadata?: string;
      emptyTimeout?: number;
      departureTimeout?: number;
      maxParticipants?: number;
    } = {},
  ): RoomInfo {
    const existing = this.rooms.get(name);
    if (existing) return existing.toInfo();
    const clean: Partial<RoomOptions> = {};
    if (options.metadata !== undefined) clean.metadata = options.metadata;
    if (options.emptyTimeout) clean.emptyTimeout = options.emptyTimeout;
    if (options.departureTimeout) clean.departureTimeout = options.departureTimeout;
    if (options.maxParticipants !== undefined) clean.maxParticipants = options.maxParticipants;
    return this.openRoom(name, [], clean).toInfo();
  }

  getRoom(name: string): RoomInfo | undefined {
    return this.rooms.get(name)?.toInfo();
  }

  listRooms(names?: string[]): RoomInfo[] {
    const rooms = [...this.rooms.values()];
    return (names && names.length > 0 ? rooms.filter((r) => names.includes(r.name)) : rooms).map((r) =>
      r.toInfo(),
    );
  }

  deleteRoom(name: string): boolean {
    const room = this.rooms.get(name);
    if (!room) return false;
    this.finish(room, DisconnectReason.ROOM_DELETED);
    return true;
  }

  listParticipants(room: string): ParticipantInfo[] {
    return [...(this.rooms.get(room)?.participants.values() ?? [])].map((p) => p.toInfo());
  }

  getParticipant(room: string, identity: string): ParticipantInfo | undefined {
    return this.rooms.get(room)?.participants.get(identity)?.toInfo();
  }

  removeParticipant(room: string, identity: string): boolean {
    const r = this.rooms.get(room);
    const p = r?.participants.get(identity);
    if (!r || !p) return false;
    r.remove(p, DisconnectReason.PARTICIPANT_REMOVED);
    return true;
  }

  updateParticipant(room: string, identity: string, update: ParticipantUpdate): ParticipantInfo | undefined {
    const r = this.rooms.get(room);
    const p = r?.participants.get(identity);
    if (!r || !p) return undefined;
    const tooBig = checkParticipantUpdate(p, update);
    if (tooBig) throw new Error(`invalid participant update: ${tooBig}`);
    if (update.name !== undefined) p.name = update.name;
    if (update.metadata !== undefined) p.metadata = update.metadata;
    if (update.attributes) mergeAttributes(p.attributes, update.attributes);
    if (update.permission) r.setPermission(p, update.permission);
    p.touch();
    r.broadcast(p);
    return p.toInfo();
  }

  updateRoomMetadata(room: string, metadata: string): RoomInfo | undefined {
    return this.rooms.get(room)?.setMetadata(metadata);
  }

  mutePublishedTrack(
    room: string,
    identity: string,
    trackSid: string,
    muted: boolean,
  ): { track?: TrackInfo } | 'participant not found' | 'remote unmute not enabled' {
    const r = this.rooms.get(room);
    const p = r?.participants.get(identity);
    if (!r || !p) return 'participant not found';
    if (!muted && !r.options.enableRemoteUnmute) return 'remote unmute not enabled';
    const track = p.muteFromServer(trackSid, muted);
    return track ? { track } : {};
  }

  updateSubscriptions(room: string, identity: string, trackSids: string[], subscribe: boolean): boolean {
    const r = this.rooms.get(room);
    const p = r?.participants.get(identity);
    if (!r || !p) return false;
    r.updateSubscriptions(p, trackSids, subscribe);
    return true;
  }

  sendData(
    room: string,
    data: { payload: Uint8Array; kind: DataPacket_Kind; topic?: string; destinationIdentities?: string[] },
  ): boolean {
    const r = this.rooms.get(room);
    if (!r) return false;
    r.sendData(serverUserPacket(data), data.kind ?? DataPacket_Kind.RELIABLE);
    return true;
  }
}

/** LiveKit attribute semantics: a key set to "" is deleted. */
export function mergeAttributes(target: Record<string, string>, update: Record<string, string>): void {
  for (const [k, v] of Object.entries(update)) {
    if (v === '') delete target[k];
    else target[k] = v;
  }
}

function participantLeftInfo(p: Participant): ParticipantInfo {
  const info = p.toInfo();
  info.state = ParticipantInfo_State.DISCONNECTED;
  return info;
}

/** SendData from the server API: a user packet with no sender participant. */
function serverUserPacket(data: {
  payload: Uint8Array;
  kind: DataPacket_Kind;
  topic?: string;
  destinationIdentities?: string[];
}): Uint8Array {
  const destinationIdentities = data.destinationIdentities ?? [];
  return new DataPacket({
    kind: data.kind,
    destinationIdentities,
    value: {
      case: 'user',
      value: new UserPacket({ payload: data.payload, topic: data.topic, destinationIdentities }),
    },
  }).toBinary();
}
