import { type CheckpointSettings, checkpointSettings } from './env/checkpoint.ts';
import { type LogLevel, logLevel } from './env/log.ts';
import { type OpsSettings, opsSettings } from './env/ops.ts';
import { str } from './env/parse.ts';
import { loadWorkerConfig, type WorkerConfig } from './env/worker.ts';
import { ConfigError } from './error.ts';

/**
 * The agent's environment: every variable it reads is read through here (the worker, its operations,
 * its logger, the room defaults), by one part of `env/` each: `worker.ts` (LiveKit and Gemini
 * credentials, Vertex AI, MCP servers, load), `room-defaults.ts`, `ops.ts` (metrics, drain, hand-off,
 * timeouts, reports, recovery), `checkpoint.ts`, `log.ts` (log level, traces); the process-level names
 * are below. Code outside `config/` imports them from here. Invalid values throw {@link ConfigError}
 * listing every problem, never echoing a secret. The SDKs underneath read some of their own
 * (`GOOGLE_GEMINI_BASE_URL`, `LOG_LEVEL`, `OTEL_EXPORTER_OTLP_HEADERS`, `LIVEKIT_AGENTS_*`).
 */

export type { CheckpointSettings } from './env/checkpoint.ts';
export { type LogLevel, logLevel, tracingSettings } from './env/log.ts';
export { type OpsSettings, opsSettings, type RecoverySettings } from './env/ops.ts';
export { roomDefaultsFromEnv } from './env/room-defaults.ts';
export { loadWorkerConfig, type WorkerConfig, workerConfigSchema } from './env/worker.ts';

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
