import { z } from 'zod';
import { webhookUrlProblem } from '../../../shared/webhook-signing.ts';
import { ConfigError, issueLine } from '../error.ts';

/**
 * Operational settings of the worker (environment only):
 * - `AGENT_METRICS_PORT` — Prometheus `/metrics` and `/healthz` port. Default 9464; `0` picks a free port
 *   (logged as `metrics server listening` with its `port`); `off` disables the server.
 * - `AGENT_METRICS_HOST` — interface the metrics server binds. Default all interfaces.
 * - `AGENT_DRAIN_TIMEOUT_S` — longest drain after SIGTERM, s (default 600). Keep it below the
 *   orchestrator's grace period (Kubernetes `terminationGracePeriodSeconds`, compose `stop_grace_period`).
 * - `AGENT_DRAIN_WRAP_UP_S` — the last part of the drain, s (default 30): from then on every conversation
 *   ends at its next turn boundary. A value ≥ the drain timeout ends conversations right after their
 *   current turn (fast rollouts); before the wrap-up they simply go on.
 * - `AGENT_DRAIN_MODE` — what a draining worker does with a conversation: `wait` (default) keeps it to
 *   its end or the wrap-up above; `handoff` hands it, at its first turn boundary, to a job on another
 *   worker, which resumes it from the checkpoint (docs/recovery.md; needs `AGENT_CHECKPOINT`). With no
 *   other worker to take it, the conversation is kept as with `wait`.
 * - `AGENT_HANDOFF_TIMEOUT_S` — how long a hand-off waits for the new job to join and be ready, s
 *   (default 20); past it the dispatch is withdrawn and the conversation kept (`wait`).
 * - `AGENT_DRAIN_REPLY_WAIT_S` — how long a drain believes in a reply the model owes (`thinking`, or one
 *   streaming in) while the model shows no sign of it, s (default 15): past it the conversation counts
 *   as between turns, so a state that never ends (a reply that never comes) cannot hold the drain to its
 *   deadline. Speech still playing and running tools (bounded by their timeouts) are always waited for.
 * - `AGENT_LOAD_CPU` — count machine CPU in the reported load (default true); `false` reports sessions only.
 * - `AGENT_PROCESS_INIT_TIMEOUT_S` — time a new job process has to load the agent, s (default 30; the
 *   framework's 10 s is short for small or busy CPUs, and a process that misses it is discarded).
 * - `AGENT_EMPTY_ROOM_TIMEOUT_S` — once the last human left, how long the agent waits for someone to
 *   come back before it ends its job and closes its Live sessions, s (default 10; 0 = stay until the
 *   room closes).
 * - `AGENT_FAILED_JOB_TIMEOUT_S` — longest a job stays in its room once it has failed (bad room
 *   configuration, or every Live session failed), s (default 120): long enough for the people there to
 *   read `lk.agent.state=failed` and `lk.agent.error`; the job also ends when the room empties (above).
 * - `AGENT_HTTP_PORT` — the framework's health server port. Default 8081; `0` picks a free port (the
 *   framework itself would read 0 as 8081), logged as `agent HTTP server port`.
 * - `AGENT_MAX_REJOINS` — times per room the agent asks for a new dispatch of itself after another
 *   connection took its identity (`DUPLICATE_IDENTITY`), default 3; 0 = never.
 * - `AGENT_REPORT_WEBHOOK_URL` — where each job POSTs its conversation report, signed with the worker's
 *   LiveKit API key like LiveKit webhooks (docs/reports.md); unset = no webhook.
 * - `AGENT_REPORT_TIMEOUT_S` — longest a job's shutdown waits for its report's delivery, retries
 *   included, s (default 5).
 * - `AGENT_RECOVERY` — bring an agent back into a room whose job process or worker died while people
 *   were there (docs/recovery.md), default `on`; `off` on LiveKit Cloud, which re-dispatches itself.
 * - `AGENT_RECOVERY_POLL_S` — mean period of the watch for rooms whose worker died, s (default 15,
 *   jittered ±50 %; the watch of this worker's own job processes checks every 0.5 s).
 * - `AGENT_RECOVERY_GRACE_S` — how long a job must have run, and a dispatch must exist, before another
 *   worker takes a missing agent for a dead one, s (default 10).
 * - `AGENT_RECOVERY_MAX` — recovery dispatches per room at most (default 3; 0 = never).
 */
export interface OpsSettings {
  /** `undefined`: metrics server off. */
  metricsPort: number | undefined;
  metricsHost: string | undefined;
  drainTimeoutMs: number;
  wrapUpMs: number;
  drainMode: 'wait' | 'handoff';
  handoffTimeoutMs: number;
  drainReplyWaitMs: number;
  loadCpu: boolean;
  initTimeoutMs: number;
  /** `undefined`: stay in an empty room. */
  emptyRoomTimeoutMs: number | undefined;
  failedJobTimeoutMs: number;
  /** `0`: any free port. */
  httpPort: number;
  maxRejoins: number;
  /** `undefined`: reports are not POSTed. */
  reportWebhookUrl: string | undefined;
  reportTimeoutMs: number;
  recovery: RecoverySettings;
}

/** `AGENT_RECOVERY*` (see {@link OpsSettings}). */
export interface RecoverySettings {
  enabled: boolean;
  pollMs: number;
  graceMs: number;
  /** Recovery dispatches per room at most. */
  max: number;
}

const opsSchema = z.object({
  AGENT_METRICS_PORT: z
    .string()
    .regex(/^(off|\d{1,5})$/i, 'must be a port number (0 = any free port) or "off"')
    .refine((v) => /^off$/i.test(v) || Number(v) <= 65_535, 'must be at most 65535')
    .default('9464'),
  AGENT_METRICS_HOST: z.string().min(1).optional(),
  AGENT_DRAIN_TIMEOUT_S: z.coerce.number().positive().max(86_400).default(600),
  AGENT_DRAIN_WRAP_UP_S: z.coerce.number().min(0).max(86_400).default(30),
  AGENT_DRAIN_MODE: z.enum(['wait', 'handoff']).default('wait'),
  AGENT_HANDOFF_TIMEOUT_S: z.coerce.number().positive().max(600).default(20),
  AGENT_DRAIN_REPLY_WAIT_S: z.coerce.number().positive().max(3600).default(15),
  AGENT_PROCESS_INIT_TIMEOUT_S: z.coerce.number().positive().max(600).default(30),
  AGENT_EMPTY_ROOM_TIMEOUT_S: z.coerce.number().min(0).max(86_400).default(10),
  AGENT_FAILED_JOB_TIMEOUT_S: z.coerce.number().positive().max(86_400).default(120),
  AGENT_HTTP_PORT: z.coerce
    .number()
    .int('must be a port number (0 = any free port)')
    .min(0)
    .max(65_535)
    .default(8081),
  AGENT_MAX_REJOINS: z.coerce.number().int().min(0).max(100).default(3),
  // The message never quotes the URL: its query may hold a secret.
  AGENT_REPORT_WEBHOOK_URL: z
    .string()
    .refine((v) => !webhookUrlProblem(v), 'must be an http(s) URL without credentials')
    .optional(),
  AGENT_REPORT_TIMEOUT_S: z.coerce.number().positive().max(60).default(5),
  AGENT_RECOVERY: z
    .string()
    .regex(/^(1|0|true|false|yes|no|on|off)$/i, 'must be on or off')
    .default('on'),
  AGENT_RECOVERY_POLL_S: z.coerce.number().min(0.2).max(3600).default(15),
  AGENT_RECOVERY_GRACE_S: z.coerce.number().min(0).max(3600).default(10),
  AGENT_RECOVERY_MAX: z.coerce.number().int().min(0).max(100).default(3),
  AGENT_LOAD_CPU: z
    .string()
    .regex(/^(1|0|true|false|yes|no|on|off)$/i, 'must be true or false')
    .default('true'),
});

/** Reads the {@link OpsSettings}; throws {@link ConfigError} listing every invalid variable. */
export function opsSettings(env: NodeJS.ProcessEnv = process.env): OpsSettings {
  const raw = Object.fromEntries(
    Object.keys(opsSchema.shape)
      .map((k) => [k, env[k]] as const)
      .filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = opsSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => issueLine(String(i.path[0]), i.message));
    throw new ConfigError(`invalid agent operations settings (environment):\n${lines.join('\n')}`);
  }
  const s = parsed.data;
  return {
    metricsPort: /^off$/i.test(s.AGENT_METRICS_PORT) ? undefined : Number(s.AGENT_METRICS_PORT),
    metricsHost: s.AGENT_METRICS_HOST,
    drainTimeoutMs: s.AGENT_DRAIN_TIMEOUT_S * 1000,
    wrapUpMs: s.AGENT_DRAIN_WRAP_UP_S * 1000,
    drainMode: s.AGENT_DRAIN_MODE,
    handoffTimeoutMs: s.AGENT_HANDOFF_TIMEOUT_S * 1000,
    drainReplyWaitMs: s.AGENT_DRAIN_REPLY_WAIT_S * 1000,
    loadCpu: /^(1|true|yes|on)$/i.test(s.AGENT_LOAD_CPU),
    initTimeoutMs: s.AGENT_PROCESS_INIT_TIMEOUT_S * 1000,
    emptyRoomTimeoutMs: s.AGENT_EMPTY_ROOM_TIMEOUT_S > 0 ? s.AGENT_EMPTY_ROOM_TIMEOUT_S * 1000 : undefined,
    failedJobTimeoutMs: s.AGENT_FAILED_JOB_TIMEOUT_S * 1000,
    httpPort: s.AGENT_HTTP_PORT,
    maxRejoins: s.AGENT_MAX_REJOINS,
    reportWebhookUrl: s.AGENT_REPORT_WEBHOOK_URL,
    reportTimeoutMs: s.AGENT_REPORT_TIMEOUT_S * 1000,
    recovery: {
      enabled: /^(1|true|yes|on)$/i.test(s.AGENT_RECOVERY) && s.AGENT_RECOVERY_MAX > 0,
      pollMs: s.AGENT_RECOVERY_POLL_S * 1000,
      graceMs: s.AGENT_RECOVERY_GRACE_S * 1000,
      max: s.AGENT_RECOVERY_MAX,
    },
  };
}
