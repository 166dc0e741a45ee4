import { type AgentDispatch, type Job, JobStatus, type Room } from '@livekit/protocol';
import type { Logger } from '../log.ts';
import { liveAgentOf, type RecoveryClients, type RecoveryOutcome, recoverRoom } from './dispatch.ts';
import { claimedRecovery, openRecovery } from './seal.ts';

/** Rooms looked at per poll at most (3 API calls at most each); a larger fleet is walked in slices. */
const MAX_ROOMS_PER_POLL = 100;

/** A dispatch whose job, as far as LiveKit knows, still runs. */
export interface Orphan {
  dispatch: AgentDispatch;
  job: Job;
}

const ns = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;

/**
 * The job a worker's death left behind, from a room's dispatches of one agent name: the newest
 * dispatch (older than `graceMs`: a younger one may be a recovery under way) whose last job is still
 * JS_RUNNING and started more than `graceMs` ago. livekit-server leaves a job in that state only when
 * its worker disappeared: an agent leaving while its worker lives ends the job (JS_FAILED "agent
 * worker left the room"; research §1a, §1d). The caller still checks that its agent is gone.
 */
export function orphanedJob(
  dispatches: readonly AgentDispatch[],
  now: number,
  graceMs: number,
): Orphan | undefined {
  let newest: AgentDispatch | undefined;
  for (const d of dispatches) {
    if (!newest || (d.state?.createdAt ?? 0n) > (newest.state?.createdAt ?? 0n)) newest = d;
  }
  if (!newest) return undefined;
  const before = ns(now - graceMs);
  if ((newest.state?.createdAt ?? 0n) > before) return undefined;
  const job = newest.state?.jobs.at(-1);
  if (!job || job.state?.status !== JobStatus.JS_RUNNING) return undefined;
  if ((job.state?.startedAt ?? 0n) > before) return undefined;
  return { dispatch: newest, job };
}

/** Options of {@link watchRooms}. */
export interface RoomWatchOptions {
  clients: RecoveryClients;
  key: Buffer;
  /** This worker's agent name: only its rooms are watched. */
  agentName: string;
  /** `AGENT_RECOVERY_POLL_S` (mean; each wait is jittered ±50 %, so workers spread their polls). */
  pollMs: number;
  /** `AGENT_RECOVERY_GRACE_S`. */
  graceMs: number;
  /** `AGENT_RECOVERY_MAX`. */
  max: number;
  logger: Logger;
  /**
   * The conversation in this room ended by its own account (the seam for the checkpoint: a final
   * checkpoint that says so): never recovered. Without it, only LiveKit's own job state tells.
   */
  endedCleanly?: (room: Room) => boolean;
  /**
   * The room says this agent had joined (the seam for the checkpoint: its owner identity). Without
   * it, a watcher recovers only agents it saw in the room itself, so a worker started after an agent
   * died does not bring it back.
   */
  joined?: (room: Room, identity: string) => boolean;
  /** After each poll (done or failed). */
  onPoll?: () => void;
  onOutcome?: (cause: 'worker', outcome: RecoveryOutcome) => void;
}

/**
 * Worker side, case "worker died" (docs/recovery.md): every worker polls, with jitter and a bound per
 * poll, the rooms that hold people for a dispatch of its agent name whose job LiveKit still counts as
 * running although its agent has left the room ({@link orphanedJob}) — the trace a dead worker
 * leaves, since OSS livekit-server forgets such jobs without ending them. A job whose agent has not
 * joined yet looks the same (a job process may take many seconds to start), so the agent must be
 * known to have been there: this watcher saw it in an earlier poll, or the room says so
 * ({@link RoomWatchOptions.joined}, the checkpoint's owner). The first worker to see the death asks for
 * a recovery dispatch ({@link recoverRoom}); the new dispatch is the room's newest, so other workers
 * leave the room alone while it is younger than the grace, and if two asked at once, the second agent
 * to join finds the first and leaves (agent/recovery/job.ts). A clean end never looks like this: the
 * job ended (JS_FAILED/JS_SUCCESS), or the room has no people. Returns a stop function.
 */
export function watchRooms(o: RoomWatchOptions): () => void {
  const log = o.logger.child({ component: 'recovery' });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let cursor = 0;
  /** Job id → when this watcher last saw its agent in the room. */
  const seen = new Map<string, number>();
  // Long enough for a dead agent to be dropped by the server and the next polls to notice.
  const forgetAfterMs = Math.max(120_000, 10 * o.pollMs);

  const poll = async () => {
    const rooms = (await o.clients.rooms.listRooms()).filter(
      (r) => r.numParticipants > 0 && !o.endedCleanly?.(r),
    );
    if (cursor >= rooms.length) cursor = 0;
    const slice = rooms.slice(cursor, cursor + MAX_ROOMS_PER_POLL);
    cursor += slice.length;
    for (const room of slice) {
      if (stopped) return;
      const ours = (await o.clients.dispatch.listDispatch(room.name)).filter(
        (d) => d.agentName === o.agentName,
      );
      const running = ours.flatMap((d) => {
        const job = d.state?.jobs.at(-1);
        return job?.state?.status === JobStatus.JS_RUNNING ? [job] : [];
      });
      if (running.length === 0) continue;
      const participants = await o.clients.rooms.listParticipants(room.name);
      const present = new Set(participants.map((p) => p.identity));
      const now = Date.now();
      for (const job of running) {
        // Still there (a dead worker's job processes outlive it by up to 15 s, its agent lingers).
        if (present.has(job.state?.participantIdentity ?? '')) seen.set(job.id, now);
      }
      const orphan = orphanedJob(ours, now, o.graceMs);
      if (!orphan) continue;
      const identity = orphan.job.state?.participantIdentity ?? '';
      if (present.has(identity)) continue;
      if (!seen.has(orphan.job.id) && !o.joined?.(room, identity)) continue;
      if (liveAgentOf(participants, o.agentName, [])) continue;
      const metadata = originalMetadata(orphan.dispatch, room.name, o);
      // A recovery claim that does not verify was refused by its job, which never joined: not a death.
      if (metadata === undefined) continue;
      seen.delete(orphan.job.id);
      log.warn(
        { room: room.name, job: orphan.job.id, identity },
        'agent gone while its job still runs: its worker died',
      );
      const outcome = await recoverRoom({
        clients: o.clients,
        key: o.key,
        room: room.name,
        agentName: o.agentName,
        from: { jobId: orphan.job.id, identity },
        cause: 'worker',
        metadata,
        max: o.max,
        logger: log,
      });
      o.onOutcome?.('worker', outcome);
    }
    const old = Date.now() - forgetAfterMs;
    for (const [id, at] of seen) if (at < old) seen.delete(id);
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        poll()
          .catch((err: unknown) => log.warn({ err: String(err) }, 'recovery watch: poll failed'))
          .finally(() => {
            o.onPoll?.();
            schedule();
          });
      },
      o.pollMs * (0.5 + Math.random()),
    );
    timer.unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The configuration the dead job ran with: a recovery dispatch's sealed original, else its metadata. */
function originalMetadata(
  d: AgentDispatch,
  room: string,
  o: { key: Buffer; agentName: string },
): string | undefined {
  const sealed = claimedRecovery(d.metadata);
  if (sealed === undefined) return d.metadata;
  try {
    return openRecovery(sealed, o.key, { room, agentName: o.agentName }, { anyAge: true }).metadata;
  } catch {
    return undefined;
  }
}
