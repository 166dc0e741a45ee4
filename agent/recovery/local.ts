import type { Logger } from '../log.ts';
import { readJobRecords } from '../ops/channel.ts';
import { type RecoveryClients, type RecoveryOutcome, recoverRoom } from './dispatch.ts';

/** How often the worker looks for job processes that died (reading a few small files). */
const CHECK_MS = 500;

/** Options of {@link watchJobProcesses}. */
export interface JobProcessWatchOptions {
  /** The worker's load directory, where each running job keeps its record (ops/channel.ts). */
  dir: string;
  clients: RecoveryClients;
  key: Buffer;
  /** `AGENT_RECOVERY_MAX`. */
  max: number;
  logger: Logger;
  onOutcome?: (cause: 'job', outcome: RecoveryOutcome) => void;
}

/**
 * Worker side, case "job process died, worker lives" (docs/recovery.md): a job keeps a record in the
 * load directory while it runs and deletes it whenever it ends in an orderly way — room emptied,
 * drain, failure, hand-off. A record whose process is gone therefore marks a crash (kill -9, OOM
 * kill, native fault); the worker brings the agent back ({@link recoverRoom}) if people are still in
 * the room. Each record is handled once. livekit-server would not: it only learns of the death when
 * the agent participant times out, and then ends the job (research §1e). Returns a stop function.
 */
export function watchJobProcesses(o: JobProcessWatchOptions): () => void {
  const log = o.logger.child({ component: 'recovery' });
  let running: Promise<void> | undefined;
  const check = () => {
    if (running) return;
    const dead = readJobRecords(o.dir, { dead: true });
    if (dead.length === 0) return;
    running = (async () => {
      for (const r of dead) {
        log.warn({ room: r.room, job: r.jobId, jobPid: r.pid }, 'job process died mid-conversation');
        const outcome = await recoverRoom({
          clients: o.clients,
          key: o.key,
          room: r.room,
          agentName: r.agentName,
          from: { jobId: r.jobId, identity: r.identity },
          cause: 'job',
          metadata: r.metadata,
          max: o.max,
          logger: log,
        });
        o.onOutcome?.('job', outcome);
      }
    })().finally(() => {
      running = undefined;
    });
  };
  const timer = setInterval(check, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
