import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/error.ts';
import { type GeminiAgent, isGeminiAgent } from './agent.ts';

/**
 * Loads the agent module at `path` (relative to the working directory): its default export must be a
 * `defineGeminiAgent(...)` result. Without a path, the default agent (agent/default-agent.ts). Throws
 * {@link ConfigError} naming the module and the reason: missing file, import failure (a bad tool
 * throws from `defineGeminiAgent` here), or no agent exported.
 */
export async function loadAgent(path: string | undefined): Promise<GeminiAgent> {
  const file = path ? resolve(path) : new URL('../default-agent.ts', import.meta.url).pathname;
  const label = path ? `agent module ${path}` : 'default agent';
  if (!existsSync(file)) throw new ConfigError(`${label}: no such file (${file}) (AGENT_MODULE / --agent)`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${label}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isGeminiAgent(mod.default)) {
    throw new ConfigError(
      `${label}: its default export is not an agent: write \`export default defineGeminiAgent({ ... })\``,
    );
  }
  return mod.default;
}
