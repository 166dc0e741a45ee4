// `npm start`: the whole product on one machine. Each real service that is configured in the
// environment is used as is; each one that is not is replaced by its local stand-in, so a fresh clone
// runs offline with no configuration at all.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { vertexEnabled } from '../agent/live/vertex.ts';
import { loadLiveKitConfig } from '../shared/livekit-config.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const { values: flags } = parseArgs({
  options: {
    'web-port': { type: 'string', default: process.env.WEB_DEMO_PORT ?? '8080' },
    'token-port': { type: 'string', default: process.env.TOKEN_SERVER_PORT ?? '8090' },
    'gemini-port': { type: 'string', default: process.env.GEMINI_EMULATOR_PORT ?? '8765' },
    'livekit-port': { type: 'string' },
    'no-agent': { type: 'boolean', default: false },
  },
});

const closers: (() => Promise<void>)[] = [];
const children: ChildProcess[] = [];

/** Starts one service; a port already taken is reported with the setting that picks another. */
async function onPort<T>(
  service: string,
  port: number,
  setting: string,
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new Error(
      `port ${port} for the ${service} is already in use (another \`npm start\`?): stop what holds it, or choose another port with ${setting}`,
    );
  }
}

function announce(name: string, url: string): void {
  // One line per service, name then URL: scripts and tests parse these lines.
  console.log(`${name} ${url}`);
}

async function main(): Promise<void> {
  const env = { ...process.env };
  const lk = loadLiveKitConfig(undefined, env);

  if (!env.LIVEKIT_URL) {
    const { startLiveKitDevServer } = await import('../emulators/livekit/index.ts');
    const port = Number(flags['livekit-port'] ?? lk.port);
    const server = await onPort('LiveKit dev server', port, '--livekit-port or `port` in livekit.yaml', () =>
      startLiveKitDevServer({ port, host: lk.host }),
    );
    closers.push(() => server.close());
    env.LIVEKIT_URL = server.url;
    announce('livekit', server.url);
  }
  env.LIVEKIT_API_KEY ??= lk.apiKey;
  env.LIVEKIT_API_SECRET ??= lk.apiSecret;

  // Real Gemini (an API key) or Vertex AI (GOOGLE_GENAI_USE_VERTEXAI, docs/vertex.md): the agent gets the
  // environment as is; the emulator stands in only when neither is configured.
  if (!env.GEMINI_API_KEY && !vertexEnabled(env)) {
    const { start } = await import('../emulators/gemini-live/index.ts');
    const port = Number(flags['gemini-port']);
    const emulator = await onPort('Gemini emulator', port, 'GEMINI_EMULATOR_PORT', () => start({ port }));
    closers.push(() => emulator.close());
    // The emulator accepts any key; the agent and the token server still need one to send.
    env.GEMINI_API_KEY = 'local-emulator-key';
    env.GOOGLE_GEMINI_BASE_URL = emulator.url;
    announce('gemini', emulator.url);
  }

  const { startTokenServer } = await import('../token-server/index.ts');
  const tokenPort = Number(flags['token-port']);
  const tokens = await onPort('token server', tokenPort, 'TOKEN_SERVER_PORT', () =>
    startTokenServer({
      port: tokenPort,
      livekitUrl: env.LIVEKIT_URL,
      apiKey: env.LIVEKIT_API_KEY,
      apiSecret: env.LIVEKIT_API_SECRET,
      geminiApiKey: env.GEMINI_API_KEY,
      geminiBaseUrl: env.GOOGLE_GEMINI_BASE_URL,
      // A named worker is dispatched only explicitly: the tokens the page gets must ask for it.
      agentName: env.AGENT_NAME,
    }),
  );
  closers.push(() => tokens.close());
  announce('token-server', tokens.url);

  const { startWebDemo } = await import('../web-demo/serve.ts');
  const webPort = Number(flags['web-port']);
  const web = await onPort('web demo', webPort, 'WEB_DEMO_PORT', () =>
    startWebDemo({ port: webPort, tokenServerUrl: tokens.url }),
  );
  closers.push(() => web.close());
  announce('web-demo', web.url);

  if (!flags['no-agent']) {
    const agent = spawn(process.execPath, [join(root, 'agent', 'main.ts'), 'start'], {
      // The worker's internal servers (health, metrics) take any free port unless configured: another
      // program on 8081 or 9464 must not take the whole stack down. The worker logs the ports it got.
      env: {
        ...env,
        AGENT_HTTP_PORT: env.AGENT_HTTP_PORT ?? '0',
        AGENT_METRICS_PORT: env.AGENT_METRICS_PORT ?? '0',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(agent);
    agent.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(`agent worker exited (${signal ?? code}); stopping the stack`);
        void stop(1);
      }
    });
  }
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
  await Promise.allSettled(
    children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve())),
  );
  for (const close of closers.reverse()) await close().catch(() => {});
  process.exit(code);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

main().catch((err: unknown) => {
  console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  void stop(1);
});
