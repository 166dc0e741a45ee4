import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The parts of a livekit-server config file the project's services share. */
export interface LiveKitConfig {
  /** Signalling/HTTP port (`port`). */
  port: number;
  /** Interface to bind (first of `bind_addresses`). */
  host: string;
  /** API key → secret pairs (`keys`). */
  keys: Record<string, string>;
  /** First key pair, the one local services sign with. */
  apiKey: string;
  apiSecret: string;
}

/** `livekit.yaml` at the repository root. */
export const defaultConfigPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'livekit.yaml');

/**
 * Reads a livekit-server YAML config. `LIVEKIT_API_KEY`/`LIVEKIT_API_SECRET` in `env` replace the file's
 * keys, the same override real deployments use.
 */
export function loadLiveKitConfig(
  path: string = defaultConfigPath,
  env: NodeJS.ProcessEnv = process.env,
): LiveKitConfig {
  const raw = (parse(readFileSync(path, 'utf8')) ?? {}) as {
    port?: number;
    bind_addresses?: string[];
    keys?: Record<string, string>;
  };
  let keys = Object.fromEntries(Object.entries(raw.keys ?? {}).map(([k, v]) => [k, String(v)]));
  if (env.LIVEKIT_API_KEY && env.LIVEKIT_API_SECRET) keys = { [env.LIVEKIT_API_KEY]: env.LIVEKIT_API_SECRET };
  const first = Object.entries(keys)[0];
  if (!first) throw new Error(`${path}: no API keys (set \`keys:\` or LIVEKIT_API_KEY/LIVEKIT_API_SECRET)`);
  return {
    port: raw.port ?? 7880,
    host: raw.bind_addresses?.[0] ?? '127.0.0.1',
    keys,
    apiKey: first[0],
    apiSecret: first[1],
  };
}
