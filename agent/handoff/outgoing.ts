import { ParticipantKind, type Room, RoomEvent, RpcError, type RpcInvocationData } from '@livekit/rtc-node';
import { AgentDispatchClient } from 'livekit-server-sdk';
import type { RoomBridge } from '../bridge/room-bridge.ts';
import { type JobCheckpoint, openCheckpoint, sealedFromMetadata } from '../checkpoint/index.ts';
import type { Logger } from '../log.ts';
import { chatRelay } from './late-chat.ts';
import { HANDOFF_RPC, type HandoffReady, type HandoffRelease } from './signal.ts';
import { newTicket, ticketMetadata } from './ticket.ts';

/** Options of {@link handOff}. */
export interface HandOffOptions {
  room: Room;
  /** The worker's LiveKit URL and key pair (creating a dispatch needs `roomAdmin`, which they carry). */
  livekit: { url: string; apiKey: string; apiSecret: string };
  agentName: string;
  jobId: string;
  /** The checkpoint key: seals the ticket, opens the successor's checkpoint. */
  key: Buffer;
  checkpoint: JobCheckpoint;
  bridge: RoomBridge;
  /** Between turns and nobody talking: the moment to close the Live sessions. */
  quiet: () => boolean;
  /** Longest wait for the successor to be ready, ms (`AGENT_HANDOFF_TIMEOUT_S`). */
  timeoutMs: number;
  logger: Logger;
}

/** Longest wait for a quiet moment once the successor is ready, ms: past it the switch happens anyway. */
const QUIET_WAIT_MS = 10_000;
/**
 * How long a quiet moment must have lasted, ms. Our talk detection ends before the model has heard the
 * end of the speech (its own end-of-speech silence, then the transcription that makes it owe a reply):
 * switching in between would close the session on an utterance it had but never answered.
 */
const QUIET_FOR_MS = 1500;
const POLL_MS = 50;

/**
 * The old job's side of a hand-off (docs/recovery.md "Hand-off on drain"): a final checkpoint, a new
 * dispatch of this agent into the room carrying a sealed ticket (the draining worker reports FULL, so
 * the dispatch goes to another worker), then the wait for the successor's `ready` signal (an RPC from
 * an agent participant that holds the ticket's id). On it, at a quiet moment, this job closes its
 * Live sessions (Gemini may refuse a resume while the old connection is open), writes its final
 * checkpoint and answers with the instant its sessions stopped taking input; the successor resumes
 * from there; chat messages that still reach this job go on to the successor (late-chat.ts). Resolves
 * true once the successor's checkpoint is in the room (it is listening) — the caller then ends the job,
 * a planned end that recovery leaves alone; false when nobody took the conversation within `timeoutMs`
 * (the dispatch is withdrawn and the conversation goes on here).
 */
export async function handOff(o: HandOffOptions): Promise<boolean> {
  const room = o.room;
  const lp = room.localParticipant;
  const log = o.logger.child({ room: room.name });
  if (!lp || !room.name) return false;
  await o.checkpoint.flush();
  const seq = o.checkpoint.writer?.seq;
  if (!seq) {
    log.warn('hand-off: no checkpoint written, the conversation stays here');
    return false;
  }
  const ticket = newTicket({
    room: room.name,
    agentName: o.agentName,
    from: { jobId: o.jobId, identity: lp.identity },
    seq,
  });
  let bridgeClosed: Promise<void> | undefined;
  // Watched from now on, so that a moment quiet since before the successor was ready counts whole.
  let quietSince: number | undefined;
  const watch = setInterval(() => {
    if (!o.quiet()) quietSince = undefined;
    else quietSince ??= Date.now();
  }, POLL_MS);
  const quietFor = () => (o.quiet() && quietSince !== undefined ? Date.now() - quietSince : 0);
  let state = 'waiting' as 'waiting' | 'switching' | 'switched' | 'withdrawn';
  let switched!: (r: HandoffRelease & { successor: string }) => void;
  const done = new Promise<HandoffRelease & { successor: string }>((resolve) => {
    switched = resolve;
  });
  lp.registerRpcMethod(HANDOFF_RPC, async (data: RpcInvocationData) => {
    const caller = room.remoteParticipants.get(data.callerIdentity);
    let ready: Partial<HandoffReady> = {};
    try {
      ready = JSON.parse(data.payload) as Partial<HandoffReady>;
    } catch {
      // Refused below.
    }
    if (caller?.kind !== ParticipantKind.AGENT || ready.id !== ticket.id) {
      log.warn({ caller: data.callerIdentity }, 'hand-off: a ready signal without the ticket was refused');
      throw new RpcError(RpcError.ErrorCode.APPLICATION_ERROR, 'not the successor');
    }
    if (state !== 'waiting') throw new RpcError(RpcError.ErrorCode.APPLICATION_ERROR, `hand-off ${state}`);
    state = 'switching';
    log.info({ successor: data.callerIdentity }, 'hand-off: the successor is ready');
    for (let waited = 0; quietFor() < QUIET_FOR_MS && waited < QUIET_WAIT_MS; waited += POLL_MS)
      await new Promise((r) => setTimeout(r, POLL_MS));
    clearInterval(watch);
    // Every Live session is closed once aclose() returns its promise (input after `at` stays unsent),
    // and the bridge's final state is kept: the checkpoint is written without waiting for the rest of
    // the bridge's closing (transcripts finished, tracks unpublished), which goes on meanwhile.
    o.bridge.passChatOn(chatRelay(room, data.callerIdentity, log));
    bridgeClosed = o.bridge.aclose();
    const at = Date.now();
    log.info({ successor: data.callerIdentity }, 'hand-off: Live sessions closed');
    await o.checkpoint.aclose();
    const release: HandoffRelease = { at, seq: o.checkpoint.writer?.seq ?? seq };
    state = 'switched';
    switched({ ...release, successor: data.callerIdentity });
    log.info({ successor: data.callerIdentity, seq: release.seq }, 'hand-off: final checkpoint written');
    return JSON.stringify(release);
  });

  const dispatches = new AgentDispatchClient(o.livekit.url, o.livekit.apiKey, o.livekit.apiSecret);
  let dispatchId: string | undefined;
  try {
    const d = await dispatches.createDispatch(room.name, o.agentName, {
      metadata: ticketMetadata(ticket, o.key),
    });
    dispatchId = d.id;
    log.info({ seq, dispatch: dispatchId }, 'hand-off: dispatched a successor');
  } catch (err) {
    clearInterval(watch);
    lp.unregisterRpcMethod(HANDOFF_RPC);
    log.warn({ err: String(err) }, 'hand-off: the dispatch failed, the conversation stays here');
    return false;
  }

  let timeUp!: () => void;
  const timedOut = new Promise<undefined>((resolve) => {
    timeUp = () => resolve(undefined);
  });
  const timer = setTimeout(timeUp, o.timeoutMs);
  let result = await Promise.race([done, timedOut]);
  clearTimeout(timer);
  if (!result && (state as string) === 'switching') result = await done; // the switch began in time: it completes
  if (!result) {
    state = 'withdrawn';
    clearInterval(watch);
    lp.unregisterRpcMethod(HANDOFF_RPC);
    await dispatches.deleteDispatch(dispatchId, room.name).catch(() => {});
    log.warn(
      { timeoutMs: o.timeoutMs },
      'hand-off: no other worker took the conversation in time, it stays here (drain as with AGENT_DRAIN_MODE=wait)',
    );
    return false;
  }
  lp.unregisterRpcMethod(HANDOFF_RPC);
  await bridgeClosed;
  const successor = result.successor;
  await successorWrote(room, o, result.seq, o.timeoutMs);
  log.info({ successor }, 'hand-off: the successor took the conversation over');
  return true;
}

/**
 * Resolves once the room's checkpoint was written by another job after ours (the successor resumed and
 * listens), or after `timeoutMs`: the old job leaves then either way, its sessions are closed.
 */
function successorWrote(room: Room, o: HandOffOptions, seq: number, timeoutMs: number): Promise<void> {
  const bind = { room: room.name ?? '', agentName: o.agentName };
  const written = () => {
    const sealed = sealedFromMetadata(room.metadata, o.agentName);
    if (!sealed) return false;
    try {
      const cp = openCheckpoint(sealed, o.key, bind);
      return cp.seq > seq && cp.owner.jobId !== o.jobId;
    } catch {
      return false;
    }
  };
  if (written()) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      room.off(RoomEvent.RoomMetadataChanged, check);
      resolve();
    };
    const check = () => {
      if (written()) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    room.on(RoomEvent.RoomMetadataChanged, check);
  });
}
