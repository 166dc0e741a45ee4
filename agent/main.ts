import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { cli, ServerOptions } from '@livekit/agents';
import { ConfigError, loadWorkerConfig, resolveRoomConfig } from './config.ts';
import { ensureLoadDir, LOAD_DIR_ENV, loadFunction } from './load.ts';
import { logger } from './log.ts';
import { opsSettings } from './ops/settings.ts';
import { startWorkerOps } from './ops/worker.ts';
import { defaultRegistry } from './tools/index.ts';

/**
 * `npm run agent` (= `node agent/main.ts start`): the LiveKit agent worker. Environment: LIVEKIT_URL,
 * LIVEKIT_API_KEY, LIVEKIT_API_SECRET, GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL (emulator), AGENT_NAME
 * (explicit dispatch), AGENT_MAX_SESSIONS, AGENT_LOAD_THRESHOLD, AGENT_HTTP_PORT (health server),
 * AGENT_IDLE_PROCESSES, plus the room defaults of config.ts. Invalid settings stop it at once with
 * every problem listed. SIGTERM drains: no new jobs, running rooms finish.
 */
let config: ReturnType<typeof loadWorkerConfig>;
let settings: ReturnType<typeof opsSettings>;
try {
  config = loadWorkerConfig();
  settings = opsSettings();
  // AGENT_TOOLS naming a tool the worker lacks would fail every room: stop here instead.
  resolveRoomConfig(config.room, {}, { availableTools: defaultRegistry().names });
} catch (err) {
  if (err instanceof ConfigError || (err instanceof Error && err.message.startsWith('invalid agent'))) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}

const ownLoadDir = !process.env[LOAD_DIR_ENV];
const loadDir = ensureLoadDir();
// The framework reads port 0 as its default 8081, so "any free port" is found here.
const port = settings.httpPort || (await freePort());
if (!settings.httpPort) logger().info({ port }, 'agent HTTP server port');
const idle = Number(process.env.AGENT_IDLE_PROCESSES);
// Metrics/health server, drain notice for job processes (agent/ops/); see docs/scaling.md.
const ops = startWorkerOps({
  settings,
  loadDir,
  removeLoadDir: ownLoadDir,
  loadThreshold: config.loadThreshold,
  agentName: config.agentName,
});
ops.listening.catch((err: unknown) => {
  logger().error({ err: String(err) }, 'metrics server cannot listen (AGENT_METRICS_PORT)');
  process.exit(1);
});

cli.runApp(
  new ServerOptions({
    agent: fileURLToPath(new URL('./entry.ts', import.meta.url)),
    agentName: config.agentName,
    wsURL: config.livekitUrl,
    apiKey: config.livekitApiKey,
    apiSecret: config.livekitApiSecret,
    loadFunc: ops.observeLoad(loadFunction(loadDir, config.maxSessions, { cpu: settings.loadCpu })),
    loadThreshold: config.loadThreshold,
    drainTimeout: settings.drainTimeoutMs,
    initializeProcessTimeout: settings.initTimeoutMs,
    port,
    ...(Number.isInteger(idle) && idle > 0 && { numIdleProcesses: idle }),
  }),
);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
