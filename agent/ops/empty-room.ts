import { ParticipantKind, type RemoteParticipant, type Room, RoomEvent } from '@livekit/rtc-node';

/** Participants in `room` other than the agent itself that are not agents either. */
export function countHumans(room: Room): number {
  let n = 0;
  for (const p of room.remoteParticipants.values()) if (p.kind !== ParticipantKind.AGENT) n++;
  return n;
}

/**
 * Ends a job once the last human has left and nobody came back within `graceMs`: an agent alone in a
 * room would keep a billed Live session open for nobody. Armed only after a human was seen, so an agent
 * dispatched ahead of its users waits for them. Returns a function that stops watching.
 */
export function watchEmptyRoom(room: Room, o: { graceMs: number; onEmpty: () => void }): () => void {
  const humans = () => countHumans(room);
  let seen = humans() > 0;
  let timer: NodeJS.Timeout | undefined;
  const onConnected = (p: RemoteParticipant) => {
    if (p.kind === ParticipantKind.AGENT) return;
    seen = true;
    clearTimeout(timer);
    timer = undefined;
  };
  const onDisconnected = () => {
    if (!seen || timer || humans() > 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (humans() === 0) o.onEmpty();
    }, o.graceMs);
  };
  room.on(RoomEvent.ParticipantConnected, onConnected);
  room.on(RoomEvent.ParticipantDisconnected, onDisconnected);
  return () => {
    clearTimeout(timer);
    room.off(RoomEvent.ParticipantConnected, onConnected);
    room.off(RoomEvent.ParticipantDisconnected, onDisconnected);
  };
}
