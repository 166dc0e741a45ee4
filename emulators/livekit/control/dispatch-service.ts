import {
  AgentDispatch,
  CreateAgentDispatchRequest,
  DeleteAgentDispatchRequest,
  ListAgentDispatchRequest,
  ListAgentDispatchResponse,
} from '@livekit/protocol';
import { LIMITS } from '../limits.ts';
import type { RoomDirectory } from '../room-directory.ts';
import { requireRoomAdmin } from './auth.ts';
import type { AgentDispatcher } from './dispatcher.ts';
import { method, TwirpError, type TwirpServices } from './twirp.ts';

/** `livekit.AgentDispatchService`: explicit dispatch of named agents into a room. */
export function dispatchService(
  directory: RoomDirectory,
  dispatcher: AgentDispatcher,
): TwirpServices[string] {
  return {
    CreateDispatch: method(CreateAgentDispatchRequest, AgentDispatch, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      if (!req.room) throw new TwirpError('invalid_argument', 'room is required');
      if (Buffer.byteLength(req.metadata) > LIMITS.metadataBytes) {
        throw new TwirpError('invalid_argument', 'metadata exceeds size limits');
      }
      // Recorded before the room is created so that it replaces the room's automatic dispatch.
      const dispatch = dispatcher.createDispatch(req.room, {
        agentName: req.agentName,
        metadata: req.metadata,
        attributes: req.attributes,
        restartPolicy: req.restartPolicy,
      });
      if (!directory.getRoom(req.room)) directory.ensureRoom(req.room);
      return dispatcher.listDispatches(req.room, dispatch.id)[0] ?? dispatch;
    }),

    ListDispatch: method(ListAgentDispatchRequest, ListAgentDispatchResponse, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      return new ListAgentDispatchResponse({
        agentDispatches: dispatcher.listDispatches(req.room, req.dispatchId || undefined),
      });
    }),

    DeleteDispatch: method(DeleteAgentDispatchRequest, AgentDispatch, (req, { claims }) => {
      requireRoomAdmin(claims, req.room);
      const deleted = dispatcher.deleteDispatch(req.room, req.dispatchId);
      if (!deleted) throw new TwirpError('not_found', 'dispatch not found');
      return deleted;
    }),
  };
}
