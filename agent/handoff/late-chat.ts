import { ParticipantKind, type Room, RpcError, type RpcInvocationData } from '@livekit/rtc-node';
import type { Logger } from '../log.ts';
import { HANDOFF_CHAT_RPC, type HandoffChat, MAX_RPC_PAYLOAD_BYTES } from './signal.ts';

/**
 * The old job's side, from the moment its Live sessions close: a chat message that still reaches it
 * (including one whose reading had begun) goes to the successor. LiveKit delivers a message only to the
 * participants in the room when it is sent, so one sent before the successor joined that arrives late
 * (a slow link, a busy machine) reached this job alone. Give the result to `RoomBridge.passChatOn`.
 */
export function chatRelay(room: Room, successor: string, logger: Logger): (chat: HandoffChat) => void {
  return (chat) => {
    const lp = room.localParticipant;
    const payload = JSON.stringify(chat);
    const relayed =
      !lp || Buffer.byteLength(payload) > MAX_RPC_PAYLOAD_BYTES
        ? Promise.reject(new Error('message too large to pass on'))
        : lp.performRpc({ destinationIdentity: successor, method: HANDOFF_CHAT_RPC, payload });
    relayed.then(
      () =>
        logger.info(
          { participant: chat.from, successor },
          'hand-off: a chat message that came after the switch was passed on',
        ),
      // Never the content.
      (err) =>
        logger.warn(
          { participant: chat.from, err: String(err) },
          'hand-off: a chat message that came after the switch is lost',
        ),
    );
  };
}

/**
 * The successor's side: chat messages the old job (`from`, an agent) passes on are handed to `deliver`
 * as if they had come on `lk.chat`. Registered before the successor says it is ready, so none is
 * refused for coming early. Anyone else calling is refused.
 */
export function takeChatsFrom(room: Room, from: string, deliver: (chat: HandoffChat) => void): void {
  room.localParticipant?.registerRpcMethod(HANDOFF_CHAT_RPC, async (data: RpcInvocationData) => {
    const caller = room.remoteParticipants.get(data.callerIdentity);
    if (data.callerIdentity !== from || caller?.kind !== ParticipantKind.AGENT)
      throw new RpcError(RpcError.ErrorCode.APPLICATION_ERROR, 'not the job handing over');
    let chat: Partial<HandoffChat> = {};
    try {
      chat = JSON.parse(data.payload) as Partial<HandoffChat>;
    } catch {
      // Refused below.
    }
    if (typeof chat.id !== 'string' || typeof chat.from !== 'string' || typeof chat.text !== 'string')
      throw new RpcError(RpcError.ErrorCode.APPLICATION_ERROR, 'malformed chat message');
    deliver({ id: chat.id, from: chat.from, text: chat.text });
    return '';
  });
}
