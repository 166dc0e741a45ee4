/**
 * The agent's configuration, from one place: `config/env.ts` reads every environment variable,
 * `config/room.ts` resolves a room's settings (env defaults ← room metadata ← dispatch metadata), and
 * every invalid setting is a {@link ConfigError} (`config/error.ts`).
 */

export {
  AGENT_MODULE_ENV,
  type AgentEnv,
  LOAD_DIR_ENV,
  type LogLevel,
  loadWorkerConfig,
  logLevel,
  type OpsSettings,
  opsSettings,
  readAgentEnv,
  roomDefaultsFromEnv,
  tracingSettings,
  type WorkerConfig,
  workerConfigSchema,
} from './config/env.ts';
export { ConfigError } from './config/error.ts';
export {
  compressionSchema,
  DEFAULT_MODEL,
  type MultiUserPolicy,
  POLICIES,
  type ResolveRoomOptions,
  type RoomConfig,
  type RoomConfigInput,
  resolveRoomConfig,
  roomConfigSchema,
  vadSchema,
  videoSchema,
} from './config/room.ts';
