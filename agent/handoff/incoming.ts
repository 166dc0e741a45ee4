import { ParticipantKind, type RemoteParticipant, type Room, RoomEvent, TrackKind } from '@livekit/rtc-node';
import type { BridgeRelease } from '../bridge/room-bridge.ts';
import { CheckpointStore, loadCheckpoint, type ResumePoint } from '../checkpoint/index.ts';
import type { Logger } from '../log.ts';
import { type chatRelay, takeChatsFrom } from './late-chat.ts';
import { HANDOFF_RPC, type HandoffChat, type HandoffReady, type HandoffRelease } from './signal.ts';
import type { HandoffTicket } from './ticket.ts';

/** Options of {@link takeOver}. */
export interface TakeOverOptions {
  room: Room;
  ticket: HandoffTicket;
  livekit: { url: string; apiKey: string; apiSecret: string };
  key: Buffer;
  /** Longest wait for the old job's answer, ms (`AGENT_HANDOFF_TIMEOUT_S`). */
  timeoutMs: number;
  /** A chat message the old job received after its sessions closed, passed on (see {@link chatRelay}). */
  chat: (chat: HandoffChat) => void;
  logger: Logger;
}

/** What the successor resumes from: the release for the bridge, the checkpoint for the writer. */
export interface TakeOver {
  release: BridgeRelease;
  point: ResumePoint;
}

/** Longest wait for the microphones of the people here to be subscribed before saying ready, ms. */
const MICROPHONES_WAIT_MS = 5000;

/**
 * The successor's side of a hand-off, called by the bridge once it listens (agent/bridge: input is
 * held, no Live session open): waits until the microphones of the people here are subscribed (bounded),
 * tells the old job it is ready, and once the old job answered (its sessions closed) reads the old
 * job's final checkpoint from the room. Throws when the old job is gone, refuses or does not answer:
 * the caller then leaves, and the conversation stays where it was.
 */
export async function takeOver(o: TakeOverOptions): Promise<TakeOver> {
  const { room, ticket } = o;
  const old = room.remoteParticipants.get(ticket.from.identity);
  if (!old || old.kind !== ParticipantKind.AGENT) throw new Error('the job handing over is not in the room');
  await microphonesSubscribed(room, MICROPHONES_WAIT_MS);
  const lp = room.localParticipant;
  if (!lp) throw new Error('not connected to the room');
  takeChatsFrom(room, ticket.from.identity, o.chat);
  const ready: HandoffReady = { id: ticket.id };
  const answer = JSON.parse(
    await lp.performRpc({
      destinationIdentity: ticket.from.identity,
      method: HANDOFF_RPC,
      payload: JSON.stringify(ready),
      responseTimeout: o.timeoutMs,
    }),
  ) as HandoffRelease;
  const store = new CheckpointStore({
    livekitUrl: o.livekit.url,
    apiKey: o.livekit.apiKey,
    apiSecret: o.livekit.apiSecret,
    room: ticket.room,
    agentName: ticket.agentName,
  });
  const point = loadCheckpoint({
    metadata: await store.metadata(),
    key: o.key,
    bind: { room: ticket.room, agentName: ticket.agentName },
    logger: o.logger,
  });
  if (!point || point.checkpoint.seq < answer.seq || point.checkpoint.owner.jobId !== ticket.from.jobId)
    throw new Error('the final checkpoint of the job handing over is not in the room');
  return { release: { at: answer.at, resume: point.checkpoint }, point };
}

/** Resolves once every human's published microphone is subscribed (has a track), or after `timeoutMs`. */
function microphonesSubscribed(room: Room, timeoutMs: number): Promise<void> {
  const pending = () =>
    [...room.remoteParticipants.values()].some(
      (p: RemoteParticipant) =>
        p.kind !== ParticipantKind.AGENT &&
        [...p.trackPublications.values()].some((pub) => pub.kind === TrackKind.KIND_AUDIO && !pub.track),
    );
  if (!pending()) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      room.off(RoomEvent.TrackSubscribed, check);
      resolve();
    };
    const check = () => {
      if (!pending()) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    room.on(RoomEvent.TrackSubscribed, check);
  });
}
