import type {
  DataPacket_Kind,
  ParticipantInfo,
  ParticipantPermission,
  Room,
  TrackInfo,
} from '@livekit/protocol';

/** A server-side participant update (RoomService UpdateParticipant); absent fields stay as they are. */
export interface ParticipantUpdate {
  name?: string;
  metadata?: string;
  attributes?: Record<string, string>;
  permission?: ParticipantPermission;
}

/**
 * The seam between the dev server's media/signalling core (rooms, participants, tracks, data) and its
 * control plane (Twirp RoomService/AgentDispatchService, the `/agent` worker protocol). The core
 * implements it; the control plane only ever talks to rooms through it, so each side can be read and
 * tested on its own.
 */
export interface RoomDirectory {
  /** Creates the room if absent (CreateRoom, or a first join); returns its current info. */
  ensureRoom(
    name: string,
    options?: {
      metadata?: string;
      emptyTimeout?: number;
      departureTimeout?: number;
      maxParticipants?: number;
    },
  ): Room;
  getRoom(name: string): Room | undefined;
  listRooms(names?: string[]): Room[];
  /** Disconnects everyone (server leave, reason ROOM_DELETED) and forgets the room. */
  deleteRoom(name: string): boolean;

  listParticipants(room: string): ParticipantInfo[];
  getParticipant(room: string, identity: string): ParticipantInfo | undefined;
  /** Server-initiated removal (leave, reason PARTICIPANT_REMOVED). */
  removeParticipant(room: string, identity: string): boolean;
  /** Applies a server-side update and broadcasts it like a self-update; returns the new info. */
  updateParticipant(room: string, identity: string, update: ParticipantUpdate): ParticipantInfo | undefined;
  /** New room metadata, sent to every participant (UpdateRoomMetadata); returns the room's info. */
  updateRoomMetadata(room: string, metadata: string): Room | undefined;
  /**
   * Mutes or unmutes a participant's published track from the server (MutePublishedTrack): the
   * publisher is told to do it and everyone sees the new state. Unmuting needs the room setting
   * `enable_remote_unmute`, as in livekit-server, so a server cannot turn on someone's microphone
   * unless the deployment allows it. `track` is absent for a sid the participant does not publish.
   */
  mutePublishedTrack(
    room: string,
    identity: string,
    trackSid: string,
    muted: boolean,
  ): { track?: TrackInfo } | 'participant not found' | 'remote unmute not enabled';
  /** Subscribes a participant to tracks, or unsubscribes it (UpdateSubscriptions); false if it is absent. */
  updateSubscriptions(room: string, identity: string, trackSids: string[], subscribe: boolean): boolean;
  /** Server-originated data packet (SendData): no sender participant. */
  sendData(
    room: string,
    data: { payload: Uint8Array; kind: DataPacket_Kind; topic?: string; destinationIdentities?: string[] },
  ): boolean;

  /** Lifecycle events the control plane dispatches agents on. Returns an unsubscribe function. */
  on<E extends keyof RoomDirectoryEvents>(event: E, listener: RoomDirectoryEvents[E]): () => void;
}

export interface RoomDirectoryEvents {
  /**
   * A room came to life (CreateRoom or first participant). `agents` holds the token's
   * `roomConfig.agents` of the participant that created it, when any.
   */
  roomStarted: (room: Room, agents: { agentName: string; metadata: string }[]) => void;
  /** `roomConfig.agents` carried by a later participant's token (explicit dispatch through a token). */
  participantJoined: (
    room: Room,
    participant: ParticipantInfo,
    agents: { agentName: string; metadata: string }[],
  ) => void;
  /** Its connection came up (state ACTIVE); livekit-server's webhooks call this "participant_joined". */
  participantActive: (room: Room, participant: ParticipantInfo) => void;
  /** `wasActive` is false for a participant whose connection never came up. */
  participantLeft: (room: Room, participant: ParticipantInfo, wasActive: boolean) => void;
  /** A track's media arrived and the room was told of it. */
  trackPublished: (room: Room, participant: ParticipantInfo, track: TrackInfo) => void;
  /** An announced track went away (unpublished, or its participant left). */
  trackUnpublished: (room: Room, participant: ParticipantInfo, track: TrackInfo) => void;
  roomFinished: (room: Room) => void;
}
