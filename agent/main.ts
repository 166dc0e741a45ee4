import { fileURLToPath } from 'node:url';
import { cli, ServerOptions } from '@livekit/agents';
import { ConfigError, loadWorkerConfig } from './config.ts';
import { ensureLoadDir, loadFunction } from './load.ts';

/**
 * `npm run agent` (= `node agent/main.ts start`): the LiveKit agent worker. Environment: LIVEKIT_URL,
 * LIVEKIT_API_KEY, LIVEKIT_API_SECRET, GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL (emulator), AGENT_NAME
 * (explicit dispatch), AGENT_MAX_SESSIONS, AGENT_LOAD_THRESHOLD, AGENT_HTTP_PORT (health server),
 * AGENT_IDLE_PROCESSES, plus the room defaults of config.ts. Invalid settings stop it at once with
 * every problem listed. SIGTERM drains: no new jobs, running rooms finish.
 */
let config: ReturnType<typeof loadWorkerConfig>;
try {
  config = loadWorkerConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}

const loadDir = ensureLoadDir();
const port = Number(process.env.AGENT_HTTP_PORT) || undefined;
const idle = Number(process.env.AGENT_IDLE_PROCESSES);

cli.runApp(
  new ServerOptions({
    agent: fileURLToPath(new URL('./entry.ts', import.meta.url)),
    agentName: config.agentName,
    wsURL: config.livekitUrl,
    apiKey: config.livekitApiKey,
    apiSecret: config.livekitApiSecret,
    loadFunc: loadFunction(loadDir, config.maxSessions),
    loadThreshold: config.loadThreshold,
    ...(port && { port }),
    ...(Number.isInteger(idle) && idle > 0 && { numIdleProcesses: idle }),
  }),
);
