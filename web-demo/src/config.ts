import { DEFAULT_LIVE_MODEL } from '../../shared/gemini-models/index.ts';

/** What the page needs to know about its deployment; served by `serve.ts` as `/config.json`. */
export interface DemoConfig {
  /** Base URL of the token server (`POST /livekit/token`, `POST /gemini/token`). */
  tokenServerUrl: string;
  /**
   * Base URL of the Gemini Live API for direct mode. Absent means Google's endpoint (the SDK default);
   * the local stack points it at the emulator.
   */
  geminiBaseUrl?: string;
  /** Live model for direct mode when the token server does not name one (default: the catalogue's `DEFAULT_LIVE_MODEL`). */
  geminiModel: string;
  /** Agent to dispatch explicitly into the room (empty: the server's automatic dispatch). */
  agentName: string;
  /** How long to wait for an agent participant before telling the user it did not join. */
  agentJoinTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function optionalString(raw: Record<string, unknown>, key: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ConfigError(`config.json: "${key}" must be a string`);
  return value;
}

/** Validates a parsed config document; throws {@link ConfigError} naming the bad field. */
export function parseConfig(raw: unknown): DemoConfig {
  if (typeof raw !== 'object' || raw === null) throw new ConfigError('config.json: not an object');
  const obj = raw as Record<string, unknown>;
  const tokenServerUrl = optionalString(obj, 'tokenServerUrl');
  if (!tokenServerUrl) throw new ConfigError('config.json: "tokenServerUrl" is required');
  const timeout = obj.agentJoinTimeoutMs ?? 20_000;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
    throw new ConfigError('config.json: "agentJoinTimeoutMs" must be a positive number');
  }
  return {
    tokenServerUrl: tokenServerUrl.replace(/\/+$/, ''),
    geminiBaseUrl: optionalString(obj, 'geminiBaseUrl'),
    geminiModel: optionalString(obj, 'geminiModel') ?? DEFAULT_LIVE_MODEL,
    agentName: optionalString(obj, 'agentName') ?? '',
    agentJoinTimeoutMs: timeout,
  };
}

export async function loadConfig(signal?: AbortSignal): Promise<DemoConfig> {
  const res = await fetch('config.json', { cache: 'no-store', signal });
  if (!res.ok) throw new ConfigError(`config.json: HTTP ${res.status}`);
  return parseConfig(await res.json());
}
