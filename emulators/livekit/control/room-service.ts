import {
  CreateRoomRequest,
  DeleteRoomRequest,
  DeleteRoomResponse,
  ListParticipantsRequest,
  ListParticipantsResponse,
  ListRoomsRequest,
  ListRoomsResponse,
  MuteRoomTrackRequest,
  MuteRoomTrackResponse,
  ParticipantInfo,
  RemoveParticipantResponse,
  Room,
  RoomParticipantIdentity,
  SendDataRequest,
  SendDataResponse,
  UpdateParticipantRequest,
  UpdateRoomMetadataRequest,
  UpdateSubscriptionsRequest,
  UpdateSubscriptionsResponse,
} from '@livekit/protocol';
import { LIMITS } from '../limits.ts';
import type { RoomDirectory } from '../room-directory.ts';
import { requireRoomAdmin, requireRoomCreate, requireRoomList } from './auth.ts';
import type { AgentDispatcher } from './dispatcher.ts';
import { method, TwirpError, type TwirpServices } from './twirp.ts';

/** `livekit.RoomService`: the subset of methods `livekit-server-sdk` users rely on. */
export function roomService(directory: RoomDirectory, dispatcher: AgentDispatcher): TwirpServices[string] {
  return {
    CreateRoom: method(CreateRoomRequest, Room, (req, { claims }) => {
      requireRoomCreate(claims);
      if (!req.name) throw new TwirpError('invalid_argument', 'room name is required');
      if (req.name.length > LIMITS.roomNameLength)
        throw new TwirpError('invalid_argument', 'room name too long');
      checkMetadata(req.metadata);
      const existing = directory.getRoom(req.name);
      if (existing) return existing;
      // Dispatches configured on the request replace the automatic one, so they must be known
      // before the room starts (the directory announces the start while creating it).
      for (const agent of req.agents) {
        dispatcher.createDispatch(req.name, { agentName: agent.agentName, metadata: agent.metadata });
      }
      return directory.ensureRoom(req.name, {
        metadata: req.metadata,
        emptyTimeout: req.emptyTimeout || undefined,
        departureTimeout: req.departureTimeout || undefined,
        maxParticipants: req.maxParticipants || undefined,
      });
    }),

    ListRooms: method(ListRoomsRequest, ListRoomsResponse, (req, { claims }) => {
      requireRoomList(claims);
      return new ListRoomsResponse({ rooms: directory.listRooms(req.names.length ? req.names : undefined) });
    }),

    DeleteRoom: method(DeleteRoomRequest, DeleteRoomResponse, (req, { claims }) => {
      requireRoomCreate(claims);
      if (!directory.getRoom(req.room)) throw new TwirpError('not_found', 'room not found');
      directory.deleteRoom(req.room);
      return new DeleteRoomResponse();
    }),

    ListParticipants: method(ListParticipantsRequest, ListParticipantsResponse, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      // LiveKit answers an unknown room with an empty list, not an error.
      return new ListParticipantsResponse({ participants: directory.listParticipants(req.room) });
    }),

    GetParticipant: method(RoomParticipantIdentity, ParticipantInfo, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      const p = directory.getParticipant(req.room, req.identity);
      if (!p) throw new TwirpError('not_found', 'participant not found');
      return p;
    }),

    RemoveParticipant: method(RoomParticipantIdentity, RemoveParticipantResponse, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      if (!directory.removeParticipant(req.room, req.identity)) {
        throw new TwirpError('not_found', 'participant not found');
      }
      return new RemoveParticipantResponse();
    }),

    UpdateParticipant: method(UpdateParticipantRequest, ParticipantInfo, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      checkMetadata(req.metadata);
      const attrBytes = Object.entries(req.attributes).reduce(
        (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v),
        0,
      );
      if (attrBytes > LIMITS.attributesBytes) {
        throw new TwirpError('invalid_argument', 'attributes exceed size limits', {
          limit: String(LIMITS.attributesBytes),
        });
      }
      if (!directory.getParticipant(req.room, req.identity)) {
        throw new TwirpError('not_found', 'participant not found');
      }
      // Empty strings / maps mean "leave unchanged", as in LiveKit.
      const info = directory.updateParticipant(req.room, req.identity, {
        ...(req.name ? { name: req.name } : {}),
        ...(req.metadata ? { metadata: req.metadata } : {}),
        ...(Object.keys(req.attributes).length ? { attributes: req.attributes } : {}),
        ...(req.permission ? { permission: req.permission } : {}),
      });
      if (!info) throw new TwirpError('not_found', 'participant not found');
      return info;
    }),

    UpdateRoomMetadata: method(UpdateRoomMetadataRequest, Room, (req, { claims }) => {
      checkMetadata(req.metadata);
      requireRoomAdmin(claims, req.room);
      const room = directory.updateRoomMetadata(req.room, req.metadata);
      if (!room) throw new TwirpError('not_found', 'room not found');
      return room;
    }),

    MutePublishedTrack: method(MuteRoomTrackRequest, MuteRoomTrackResponse, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      const result = directory.mutePublishedTrack(req.room, req.identity, req.trackSid, req.muted);
      if (result === 'participant not found') throw new TwirpError('not_found', result);
      if (result === 'remote unmute not enabled') throw new TwirpError('failed_precondition', result);
      return new MuteRoomTrackResponse(result);
    }),

    UpdateSubscriptions: method(
      UpdateSubscriptionsRequest,
      UpdateSubscriptionsResponse,
      (req, { claims }) => {
        requireRoomAdmin(claims, req.room);
        const sids = [...req.trackSids, ...req.participantTracks.flatMap((pt) => pt.trackSids)];
        if (!directory.updateSubscriptions(req.room, req.identity, sids, req.subscribe)) {
          throw new TwirpError('not_found', 'participant not found');
        }
        return new UpdateSubscriptionsResponse();
      },
    ),

    SendData: method(SendDataRequest, SendDataResponse, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      if (req.data.length > LIMITS.serverDataBytes) {
        throw new TwirpError('invalid_argument', 'data exceeds size limits', {
          limit: String(LIMITS.serverDataBytes),
        });
      }
      if (!directory.getRoom(req.room)) throw new TwirpError('not_found', 'room not found');
      let destinations = req.destinationIdentities;
      if (req.destinationSids.length) {
        // Legacy callers address participants by sid; the directory speaks identities.
        const bySid = new Map(directory.listParticipants(req.room).map((p) => [p.sid, p.identity]));
        destinations = [
          ...destinations,
          ...req.destinationSids.map((sid) => bySid.get(sid)).filter((i): i is string => i !== undefined),
        ];
        // Every addressed participant is gone: deliver to nobody rather than to everyone.
        if (!destinations.length) return new SendDataResponse();
      }
      directory.sendData(req.room, {
        payload: req.data,
        kind: req.kind,
        ...(req.topic !== undefined ? { topic: req.topic } : {}),
        ...(destinations.length ? { destinationIdentities: destinations } : {}),
      });
      return new SendDataResponse();
    }),
  };
}

function checkMetadata(metadata: string): void {
  if (Buffer.byteLength(metadata) > LIMITS.metadataBytes) {
    throw new TwirpError('invalid_argument', 'metadata exceeds size limits', {
      limit: String(LIMITS.metadataBytes),
    });
  }
}
