import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, ServerOptions } from '@livekit/agents';
import { loadAgent } from './api/load.ts';
import { AGENT_MODULE_ENV, type AgentEnv, ConfigError, readAgentEnv, resolveRoomConfig } from './config.ts';
import { logger } from './log.ts';
import { openChannel } from './ops/channel.ts';
import { freePort } from './ops/free-port.ts';
import { loadFunction } from './ops/load.ts';
import { startWorkerOps } from './ops/worker.ts';
import { startRecovery } from './recovery/index.ts';
import { ToolRegistry } from './tools/index.ts';

/**
 * `npm run agent` (= `node agent/main.ts start`): the LiveKit agent worker. Its environment is read in
 * config/env.ts (LiveKit and Gemini credentials, load, drain, metrics, room defaults). Invalid settings
 * stop it at once (exit 2) with every problem listed. SIGTERM drains: no new jobs, running rooms finish.
 * `--agent PATH` (or `AGENT_MODULE`) names the agent module (agent/api/); it is loaded here first, so a
 * missing file or a bad tool stops the worker before it joins any room.
 */
takeAgentOption();
let env: AgentEnv;
try {
  env = readAgentEnv();
  const agent = await loadAgent(env.agentModule);
  // AGENT_TOOLS naming a tool the worker lacks would fail every room: stop here instead.
  // So is a setting the default model refuses; what it ignores is said once, here.
  const tools = new ToolRegistry([...agent.tools]);
  resolveRoomConfig(
    env.worker.room,
    {},
    {
      availableTools: tools.names,
      functions: tools.declarations(),
      warn: (message) => logger().warn(`room defaults: ${message}`),
    },
  );
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(2);
}
const { worker: config, ops: settings } = env;

// The directory job processes report through, and the worker's drain notice reaches them by.
const { dir: loadDir, own: ownLoadDir } = openChannel(env.loadDir);
// The framework reads port 0 as its default 8081, so "any free port" is found here.
const port = settings.httpPort || (await freePort());
if (!settings.httpPort) logger().info({ port }, 'agent HTTP server port');
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

// Bringing agents back after a job process or a worker died (agent/recovery/, docs/recovery.md).
if (settings.recovery.enabled) {
  startRecovery({
    settings: settings.recovery,
    loadDir,
    agentName: config.agentName,
    livekit: { url: config.livekitUrl, apiKey: config.livekitApiKey, apiSecret: config.livekitApiSecret },
    secret: env.checkpoint.secret,
    logger: logger(),
    metrics: ops.metrics,
  });
}

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
    ...(env.idleProcesses && { numIdleProcesses: env.idleProcesses }),
  }),
);

/**
 * `--agent PATH` / `--agent=PATH`: taken out of the arguments the framework's CLI parses and passed on as
 * `AGENT_MODULE` (absolute), which the job processes it forks inherit.
 */
function takeAgentOption(): void {
  const args = process.argv;
  for (let i = 2; i < args.length; i++) {
    const a = args[i]!;
    let value: string | undefined;
    if (a === '--agent') {
      value = args[i + 1];
      if (value === undefined || value.startsWith('-')) {
        console.error('--agent needs the path of an agent module');
        process.exit(2);
      }
      args.splice(i, 2);
    } else if (a.startsWith('--agent=')) {
      value = a.slice('--agent='.length);
      args.splice(i, 1);
    } else continue;
    process.env[AGENT_MODULE_ENV] = resolve(value);
    i--;
  }
}
