import { type DrainNotice, readDrain } from './channel.ts';

/**
 * Graceful drain. On SIGTERM the @livekit/agents 1.9 CLI (production `start`) calls `drain()`: the worker
 * reports FULL, declines new jobs and waits for its running jobs up to `drainTimeout`, then closes (jobs
 * still running then are shut down wherever they are). It cannot tell a conversation between turns from
 * one mid-sentence, so the worker also publishes a drain notice for its job processes (ops/channel.ts:
 * they are forked by the framework, which also ignores SIGTERM in them, and only the worker — PID 1 in a
 * container — receives the orchestrator's signal), and each job ends itself at a turn boundary before
 * the framework's deadline (see {@link drainAction}).
 */

/** What a running conversation looks like to the drain. */
export interface ConversationActivity {
  /**
   * The agent is mid-turn: speaking a reply, running a tool for it, or owing one the model still shows
   * signs of (agent/ops/job.ts), or still taking the conversation over from another job.
   */
  busy: boolean;
  /** Humans still in the room. */
  humans: number;
}

/**
 * The drain rule for one job: go on while the worker is not draining; during the drain, end at once
 * when nobody is left to talk to, and from the wrap-up point end at the first turn boundary — never
 * mid-reply. Past the deadline the framework closes the job anyway.
 */
export function drainAction(
  notice: DrainNotice | undefined,
  activity: ConversationActivity,
  now = Date.now(),
): 'continue' | 'end' {
  if (!notice) return 'continue';
  if (activity.humans === 0) return 'end';
  if (now >= notice.wrapUpAt && !activity.busy) return 'end';
  return 'continue';
}

/** Options of {@link watchDrain}. */
export interface DrainWatchOptions {
  /** The worker's load directory (`AGENT_LOAD_DIR`), where the notice appears. */
  dir: string | undefined;
  activity: () => ConversationActivity;
  /** Called once, when the job should end (`handedOff`: another job has taken the conversation over). */
  end: (notice: DrainNotice, handedOff: boolean) => void;
  /**
   * `AGENT_DRAIN_MODE=handoff`: tried once, at the first turn boundary after the notice (not waiting for
   * the wrap-up); true when another job took the conversation over. False: the conversation goes on
   * under the rule of {@link drainAction}.
   */
  handOff?: (notice: DrainNotice) => Promise<boolean>;
  /** Poll period, ms (default 250). */
  intervalMs?: number;
  /**
   * How long the conversation must have been between turns before it ends, ms (default 750): the last
   * reply's final transcript and state updates go out first, and a reply that merely paused (audio
   * arriving late on a busy machine) is not taken for a finished one.
   */
  settleMs?: number;
}

/** Job side: polls for the notice and applies {@link drainAction}. Returns a stop function. */
export function watchDrain(o: DrainWatchOptions): () => void {
  let stopped = false;
  let idleSince: number | undefined;
  /** A hand-off under way (the watch pauses) or tried already (false). */
  let handingOff = false;
  let tried = !o.handOff;
  const settleMs = o.settleMs ?? 750;
  const timer = setInterval(() => {
    const notice = readDrain(o.dir);
    if (!notice || stopped || handingOff) return;
    const activity = o.activity();
    const now = Date.now();
    if (activity.busy) idleSince = undefined;
    else idleSince ??= now;
    const settled = now - (idleSince ?? now) >= settleMs;
    if (!tried && o.handOff && activity.humans > 0 && !activity.busy && settled) {
      tried = true;
      handingOff = true;
      void o.handOff(notice).then(
        (done) => {
          handingOff = false;
          if (!done || stopped) return;
          stop();
          o.end(notice, true);
        },
        () => {
          handingOff = false;
        },
      );
      return;
    }
    if (drainAction(notice, activity, now) !== 'end') return;
    if (activity.humans > 0 && !settled) return;
    stop();
    o.end(notice, false);
  }, o.intervalMs ?? 250);
  timer.unref();
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
