import { z } from 'zod';
import { webhookUrlProblem } from '../../shared/webhook-signing.ts';
import { type VertexOptions, vertexOptionsFromEnv } from '../live/vertex.ts';
import { type McpServerConfig, parseMcpServers } from '../mcp/config.ts';
import { ConfigError, issueLine } from './error.ts';
import { type MultiUserPolicy, type RoomConfigInput, roomConfigSchema } from './room.ts';

/**
 * The agent's environment: every variable it reads is read here (the worker, its operations, its
 * logger, the room defaults). Invalid values throw {@link ConfigError} listing every problem, never
 * echoing a secret. The SDKs underneath read some of their own (`GOOGLE_GEMINI_BASE_URL`, `LOG_LEVEL`,
 * `OTEL_EXPORTER_OTLP_HEADERS`, `LIVEKIT_AGENTS_*`).
 */

/** Process-wide settings (environment only). */
export const workerConfigSchema = z.object({
  livekitUrl: z.string().regex(/^wss?:\/\//, 'must start with ws:// or wss://'),
  livekitApiKey: z.string().min(1),
  livekitApiSecret: z.string().min(1),
  /**
   * Gemini API key (or ephemeral `auth_tokens/…`); never logged. Required unless the worker runs on
   * Vertex AI ({@link WorkerConfig.vertex}).
   */
  geminiApiKey: z.string().min(1).optional(),
  /** Base URL of a Gemini-compatible endpoint (the local emulator); the SDK default when unset. */
  geminiBaseUrl: z.string().url().optional(),
  /** Explicit-dispatch name; automatic dispatch when empty. */
  agentName: z.string().default(''),
  /** Live sessions one worker process tree serves before reporting full load. */
  maxSessions: z.number().int().positive().default(25),
  /** Load (0–1) at which the worker stops accepting jobs. */
  loadThreshold: z.number().gt(0).max(1).default(0.75),
  /** Room defaults before per-room metadata overrides. */
  room: roomConfigSchema,
});

export type WorkerConfig = z.infer<typeof workerConfigSchema> & {
  /** Vertex AI (`GOOGLE_GENAI_USE_VERTEXAI` …, live/vertex.ts): Live sessions run there, not on the Gemini API. */
  vertex?: VertexOptions;
  /** `AGENT_MCP_SERVERS` (docs/mcp.md): the MCP servers rooms may use; none when unset. */
  mcpServers: McpServerConfig[];
};

const bool = (v: string | undefined): boolean | undefined => {
  if (v === undefined || v === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v as unknown as boolean; // let zod report the bad value
};
const num = (v: string | undefined): number | undefined => {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : (v as unknown as number);
};
const str = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
const list = (v: string | undefined): string[] | undefined =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);

function dropUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Room defaults from the environment: `GEMINI_MODEL`, `GEMINI_VOICE`, `AGENT_INSTRUCTIONS`,
 * `AGENT_LANGUAGE`, `AGENT_TOOLS` (comma list), `AGENT_POLICY`, `AGENT_PUSH_TO_TALK`, `AGENT_VIDEO`,
 * `AGENT_VIDEO_FPS`, `AGENT_VIDEO_RESOLUTION`, `AGENT_VAD_START_SENSITIVITY`, `AGENT_VAD_END_SENSITIVITY`, `AGENT_VAD_PREFIX_MS`,
 * `AGENT_VAD_SILENCE_MS`, `AGENT_COMPRESSION`, `AGENT_TOOL_TIMEOUT_MS`, `AGENT_FLOOR_RELEASE_MS`,
 * `AGENT_THINKING_BUDGET`, `AGENT_THINKING_LEVEL`, `AGENT_AFFECTIVE_DIALOG`, `AGENT_PROACTIVE_AUDIO`, `AGENT_GOOGLE_SEARCH`.
 */
export function roomDefaultsFromEnv(env: NodeJS.ProcessEnv = process.env): RoomConfigInput {
  const video = dropUndefined({
    enabled: bool(env.AGENT_VIDEO),
    fps: num(env.AGENT_VIDEO_FPS),
    resolution: str(env.AGENT_VIDEO_RESOLUTION) as 'low' | 'medium' | 'high' | undefined,
  });
  const vad = dropUndefined({
    startSensitivity: str(env.AGENT_VAD_START_SENSITIVITY) as 'high' | 'low' | undefined,
    endSensitivity: str(env.AGENT_VAD_END_SENSITIVITY) as 'high' | 'low' | undefined,
    prefixPaddingMs: num(env.AGENT_VAD_PREFIX_MS),
    silenceDurationMs: num(env.AGENT_VAD_SILENCE_MS),
  });
  const compressionEnabled = bool(env.AGENT_COMPRESSION);
  return dropUndefined({
    model: str(env.GEMINI_MODEL),
    voice: str(env.GEMINI_VOICE),
    systemInstruction: str(env.AGENT_INSTRUCTIONS),
    language: str(env.AGENT_LANGUAGE),
    tools: list(env.AGENT_TOOLS),
    policy: str(env.AGENT_POLICY) as MultiUserPolicy | undefined,
    pushToTalk: bool(env.AGENT_PUSH_TO_TALK),
    floorReleaseMs: num(env.AGENT_FLOOR_RELEASE_MS),
    toolTimeoutMs: num(env.AGENT_TOOL_TIMEOUT_MS),
    thinkingBudget: num(env.AGENT_THINKING_BUDGET),
    thinkingLevel: str(env.AGENT_THINKING_LEVEL)?.toLowerCase() as RoomConfigInput['thinkingLevel'],
    affectiveDialog: bool(env.AGENT_AFFECTIVE_DIALOG),
    proactiveAudio: bool(env.AGENT_PROACTIVE_AUDIO),
    googleSearch: bool(env.AGENT_GOOGLE_SEARCH),
    video: Object.keys(video).length ? video : undefined,
    vad: Object.keys(vad).length ? vad : undefined,
    compression: compressionEnabled === undefined ? undefined : { enabled: compressionEnabled },
  }) as RoomConfigInput;
}

/** Variable of each worker setting, for error messages. */
const WORKER_ENV: Record<string, string> = {
  livekitUrl: 'LIVEKIT_URL',
  livekitApiKey: 'LIVEKIT_API_KEY',
  livekitApiSecret: 'LIVEKIT_API_SECRET',
  geminiApiKey: 'GEMINI_API_KEY',
  geminiBaseUrl: 'GOOGLE_GEMINI_BASE_URL',
  maxSessions: 'AGENT_MAX_SESSIONS',
  loadThreshold: 'AGENT_LOAD_THRESHOLD',
};

/** Variable of each room default, for error messages. */
const ROOM_ENV: Record<string, string> = {
  model: 'GEMINI_MODEL',
  voice: 'GEMINI_VOICE',
  systemInstruction: 'AGENT_INSTRUCTIONS',
  language: 'AGENT_LANGUAGE',
  tools: 'AGENT_TOOLS',
  policy: 'AGENT_POLICY',
  pushToTalk: 'AGENT_PUSH_TO_TALK',
  floorReleaseMs: 'AGENT_FLOOR_RELEASE_MS',
  toolTimeoutMs: 'AGENT_TOOL_TIMEOUT_MS',
  thinkingBudget: 'AGENT_THINKING_BUDGET',
  thinkingLevel: 'AGENT_THINKING_LEVEL',
  affectiveDialog: 'AGENT_AFFECTIVE_DIALOG',
  proactiveAudio: 'AGENT_PROACTIVE_AUDIO',
  googleSearch: 'AGENT_GOOGLE_SEARCH',
  'video.enabled': 'AGENT_VIDEO',
  'video.fps': 'AGENT_VIDEO_FPS',
  'video.resolution': 'AGENT_VIDEO_RESOLUTION',
  'vad.startSensitivity': 'AGENT_VAD_START_SENSITIVITY',
  'vad.endSensitivity': 'AGENT_VAD_END_SENSITIVITY',
  'vad.prefixPaddingMs': 'AGENT_VAD_PREFIX_MS',
  'vad.silenceDurationMs': 'AGENT_VAD_SILENCE_MS',
  'compression.enabled': 'AGENT_COMPRESSION',
};

/**
 * Validates the worker's configuration from the environment: `LIVEKIT_URL`, `LIVEKIT_API_KEY`,
 * `LIVEKIT_API_SECRET`, `GEMINI_API_KEY` (or `GOOGLE_API_KEY`; optional on Vertex AI), `GOOGLE_GEMINI_BASE_URL`,
 * Vertex AI's (`GOOGLE_GENAI_USE_VERTEXAI`, `GOOGLE_CLOUD_PROJECT`, … — {@link vertexOptionsFromEnv}), `AGENT_NAME`,
 * `AGENT_MAX_SESSIONS`, `AGENT_LOAD_THRESHOLD` and the room defaults ({@link roomDefaultsFromEnv}).
 * Throws {@link ConfigError} listing every problem (never echoing secret values).
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const roomDefaults = roomDefaultsFromEnv(env);
  const problems: string[] = [];
  let vertex: VertexOptions | undefined;
  try {
    vertex = vertexOptionsFromEnv(env);
  } catch (err) {
    problems.push(issueLine('GOOGLE_CLOUD_PROJECT', (err as Error).message));
  }
  let mcpServers: McpServerConfig[] = [];
  try {
    mcpServers = parseMcpServers(env.AGENT_MCP_SERVERS, { env });
  } catch (err) {
    // Its message names the problems, never a value (a header may hold a token).
    if (!(err instanceof ConfigError)) throw err;
    problems.push(err.message);
  }
  const raw = dropUndefined({
    livekitUrl: str(env.LIVEKIT_URL),
    livekitApiKey: str(env.LIVEKIT_API_KEY),
    livekitApiSecret: str(env.LIVEKIT_API_SECRET),
    geminiApiKey: str(env.GEMINI_API_KEY) ?? str(env.GOOGLE_API_KEY),
    geminiBaseUrl: str(env.GOOGLE_GEMINI_BASE_URL),
    agentName: str(env.AGENT_NAME),
    maxSessions: num(env.AGENT_MAX_SESSIONS),
    loadThreshold: num(env.AGENT_LOAD_THRESHOLD),
  });
  const parsed = workerConfigSchema.safeParse({ ...raw, room: roomDefaults });
  const vertexOn = vertex !== undefined || problems.length > 0;
  if (!vertexOn && raw.geminiApiKey === undefined)
    problems.push(issueLine('GEMINI_API_KEY', 'required but not set (or run on Vertex AI: docs/vertex.md)'));
  if (!parsed.success || problems.length) {
    const lines = (parsed.success ? [] : parsed.error.issues).map((i) => {
      const key = String(i.path[0] ?? '');
      const name =
        key === 'room'
          ? (ROOM_ENV[i.path.slice(1).join('.')] ?? i.path.join('.'))
          : (WORKER_ENV[key] ?? i.path.join('.'));
      const missing =
        key !== 'room' && i.code === 'invalid_type' && raw[key as keyof typeof raw] === undefined;
      return issueLine(name, missing ? 'required but not set' : i.message);
    });
    throw new ConfigError(
      `invalid agent configuration (environment):\n${[...lines, ...problems].join('\n')}`,
    );
  }
  return { ...parsed.data, mcpServers, ...(vertex && { vertex }) };
}

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

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `AGENT_LOG_LEVEL`: the agent's own logger (default `info`); the framework's is `LOG_LEVEL`. */
export function logLevel(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const v = str(env.AGENT_LOG_LEVEL) ?? 'info';
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new ConfigError(
    `invalid agent log level (environment):\n${issueLine('AGENT_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`)}`,
  );
}

/**
 * Where job processes export traces (OTLP/HTTP), when the standard variables name a collector:
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`;
 * `OTEL_SERVICE_NAME` (default `gemini-agent`). `undefined`: no export.
 */
export function tracingSettings(
  env: NodeJS.ProcessEnv = process.env,
): { url: string; serviceName: string } | undefined {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  return {
    url: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${base}/v1/traces`,
    serviceName: env.OTEL_SERVICE_NAME || 'gemini-agent',
  };
}

/**
 * `AGENT_LOAD_DIR`: the directory the worker shares with its job processes (agent/ops/channel.ts). The
 * worker sets it for the job processes it forks when it made the directory itself.
 */
export const LOAD_DIR_ENV = 'AGENT_LOAD_DIR';

/**
 * `AGENT_MODULE`: path of the agent module (default export `defineGeminiAgent(...)`), relative to the
 * working directory; `npm run agent -- --agent PATH` sets it for the worker and its job processes.
 */
export const AGENT_MODULE_ENV = 'AGENT_MODULE';

/** Everything the agent reads from its environment. */
export interface AgentEnv {
  worker: WorkerConfig;
  ops: OpsSettings;
  logLevel: LogLevel;
  /** `AGENT_LOAD_DIR`; unset in a worker that makes its own. */
  loadDir: string | undefined;
  /** `AGENT_IDLE_PROCESSES`: job processes kept warm (a positive integer; the framework's default otherwise). */
  idleProcesses: number | undefined;
  /** `AGENT_RECONNECT_BACKOFF_MS`: first Live reconnect back-off (tests shorten it); the session's default when unset. */
  reconnectBackoffMs: number | undefined;
  /** `AGENT_MODULE`: the agent module; the default agent (agent/default-agent.ts) when unset. */
  agentModule: string | undefined;
  checkpoint: CheckpointSettings;
}

/**
 * Conversation checkpoints (docs/recovery.md):
 * - `AGENT_CHECKPOINT` — keep a sealed checkpoint of each conversation in room metadata, and resume from
 *   one when a job starts in its room (default true).
 * - `AGENT_CHECKPOINT_SECRET` — the secret the checkpoint key is derived from (at least 32 characters);
 *   `LIVEKIT_API_SECRET` when unset. Every worker that may resume another's conversations needs the same.
 * - `AGENT_CHECKPOINT_INTERVAL_MS` — shortest time between two checkpoint writes of a job, ms (default
 *   3000; LiveKit asks for metadata updates no more often than every few seconds).
 */
export interface CheckpointSettings {
  enabled: boolean;
  /** Never logged; the key is derived from it (agent/checkpoint/key.ts). */
  secret: string;
  intervalMs: number;
}

function checkpointSettings(env: NodeJS.ProcessEnv, livekitApiSecret: string): CheckpointSettings {
  const problems: string[] = [];
  const enabled = bool(env.AGENT_CHECKPOINT) ?? true;
  if (typeof enabled !== 'boolean') problems.push(issueLine('AGENT_CHECKPOINT', 'must be true or false'));
  const own = str(env.AGENT_CHECKPOINT_SECRET);
  if (own !== undefined && own.length < 32)
    problems.push(issueLine('AGENT_CHECKPOINT_SECRET', 'must be at least 32 characters'));
  const interval = num(env.AGENT_CHECKPOINT_INTERVAL_MS) ?? 3000;
  if (!Number.isInteger(interval) || interval < 0 || interval > 600_000)
    problems.push(issueLine('AGENT_CHECKPOINT_INTERVAL_MS', 'must be an integer from 0 to 600000'));
  if (problems.length)
    throw new ConfigError(`invalid checkpoint settings (environment):\n${problems.join('\n')}`);
  return { enabled: enabled === true, secret: own ?? livekitApiSecret, intervalMs: interval };
}

/**
 * Reads the whole environment once. Throws one {@link ConfigError} with the problems of every part
 * (worker, operations, log level).
 */
export function readAgentEnv(env: NodeJS.ProcessEnv = process.env): AgentEnv {
  const problems: string[] = [];
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
      return undefined;
    }
  };
  const worker = attempt(() => loadWorkerConfig(env));
  const ops = attempt(() => opsSettings(env));
  const level = attempt(() => logLevel(env));
  const checkpoint = attempt(() => checkpointSettings(env, worker?.livekitApiSecret ?? ''));
  if (!worker || !ops || !level || !checkpoint) throw new ConfigError(problems.join('\n'));
  const idle = Number(env.AGENT_IDLE_PROCESSES);
  const backoff = str(env.AGENT_RECONNECT_BACKOFF_MS);
  return {
    worker,
    ops,
    logLevel: level,
    loadDir: str(env[LOAD_DIR_ENV]),
    idleProcesses: Number.isInteger(idle) && idle > 0 ? idle : undefined,
    reconnectBackoffMs: backoff === undefined ? undefined : Number(backoff),
    agentModule: str(env[AGENT_MODULE_ENV]),
    checkpoint,
  };
}
