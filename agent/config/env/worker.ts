import { z } from 'zod';
import { type VertexOptions, vertexOptionsFromEnv } from '../../live/vertex.ts';
import { type McpServerConfig, parseMcpServers } from '../../mcp/config.ts';
import { ConfigError, issueLine } from '../error.ts';
import { roomConfigSchema } from '../room.ts';
import { dropUndefined, num, str } from './parse.ts';
import { ROOM_ENV, roomDefaultsFromEnv } from './room-defaults.ts';

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
