import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Graceful drain. On SIGTERM the @livekit/agents 1.9 CLI (production `start`) calls `drain()`: the worker
 * reports FULL, declines new jobs and waits for its running jobs up to `drainTimeout`, then closes (jobs
 * still running then are shut down wherever they are). It cannot tell a conversation between turns from
 * one mid-sentence, so the worker also publishes a drain notice for its job processes, and each job ends
 * itself at a turn boundary before the framework's deadline (see {@link drainAction}).
 *
 * The notice is a file in the worker's load directory (`drain`, JSON {@link DrainNotice}): job processes
 * are forked by the framework, which also ignores SIGTERM in them, and only the worker (PID 1 in a
 * container) receives the orchestrator's signal.
 */
export const DRAIN_FILE = 'drain';

export interface DrainNotice {
  /** Epoch ms the drain started. */
  startedAt: number;
  /** Epoch ms after which conversations end at their next turn boundary. */
  wrapUpAt: number;
  /** Epoch ms at which the framework stops waiting and closes every job. */
  deadline: number;
}

/** Worker side: writes the notice (atomically) and returns it. */
export function publishDrain(
  dir: string,
  o: { timeoutMs: number; wrapUpMs: number },
  now = Date.now(),
): DrainNotice {
  const deadline = now + o.timeoutMs;
  // Keep a little of the deadline for the last turn even when wrap-up ≥ timeout.
  const notice: DrainNotice = { startedAt: now, wrapUpAt: Math.max(now, deadline - o.wrapUpMs), deadline };
  const tmp = join(dir, `.${DRAIN_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(notice));
  renameSync(tmp, join(dir, DRAIN_FILE));
  return notice;
}

/** Job side: the notice, if the worker is draining. */
export function readDrain(dir: string | undefined): DrainNotice | undefined {
  if (!dir) return undefined;
  try {
    const v = JSON.parse(readFileSync(join(dir, DRAIN_FILE), 'utf8')) as Partial<DrainNotice>;
    if (typeof v.wrapUpAt === 'number' && typeof v.deadline === 'number' && typeof v.startedAt === 'number')
      return v as DrainNotice;
  } catch {
    // No drain (or a notice being replaced).
  }
  return undefined;
}

/** What a running conversation looks like to the drain. */
export interface ConversationActivity {
  /** The agent is mid-turn: thinking about, or speaking, a reply (or running a tool for it). */
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
  /** The worker's load directory (`AGENT_LOAD_DIR`). */
  dir: string | undefined;
  activity: () => ConversationActivity;
  /** Called once, when the job should end. */
  end: (notice: DrainNotice) => void;
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
  const settleMs = o.settleMs ?? 750;
  const timer = setInterval(() => {
    const notice = readDrain(o.dir);
    if (!notice || stopped) return;
    const activity = o.activity();
    const now = Date.now();
    if (activity.busy) idleSince = undefined;
    else idleSince ??= now;
    if (drainAction(notice, activity, now) !== 'end') return;
    if (activity.humans > 0 && now - (idleSince ?? now) < settleMs) return;
    stop();
    o.end(notice);
  }, o.intervalMs ?? 250);
  timer.unref();
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
