// `npm run token-server -- --port N`: prints the server's URL alone on one line of stdout (logs go to
// stderr), then serves until SIGINT/SIGTERM.
//
// Environment: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET (else livekit.yaml), GEMINI_API_KEY
// (or GOOGLE_API_KEY), GOOGLE_GENAI_USE_VERTEXAI or GOOGLE_GENAI_USE_ENTERPRISE (Vertex AI: no
// ephemeral tokens, `POST /gemini/token` answers 501), GOOGLE_GEMINI_BASE_URL, GEMINI_MODEL, AGENT_NAME,
// TOKEN_SERVER_BEARER (require `Authorization: Bearer …`; kept out of argv so it never shows in `ps`),
// TOKEN_SERVER_CORS_ORIGINS (comma list, `*` for any), TOKEN_SERVER_ALLOWED_HOSTS (Host names besides
// IPs and localhost, comma list, `*` for any), TOKEN_SERVER_RATE_LIMIT (requests per client per minute,
// 0 = off), TOKEN_SERVER_TRUST_PROXY=1 (client address from X-Forwarded-For),
// TOKEN_SERVER_ALLOWED_AGENTS (comma list; default AGENT_NAME), TOKEN_SERVER_AGENT_METADATA_KEYS (comma
// list of agent metadata keys clients may set; default none).
import { parseArgs } from 'node:util';
import { defaultConfigPath, loadLiveKitConfig } from '../shared/livekit-config.ts';
import { startTokenServer } from './index.ts';

const { values: flags } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.TOKEN_SERVER_PORT ?? '8090' },
    host: { type: 'string', default: '127.0.0.1' },
    config: { type: 'string', default: defaultConfigPath },
    'static-dir': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (flags.help) {
  console.log('usage: token-server [--port N] [--host ADDR] [--config livekit.yaml] [--static-dir DIR]');
  process.exit(0);
}

const env = process.env;
const str = (v: string | undefined) => (v ? v : undefined);
const list = (v: string | undefined) =>
  str(v)
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function main(): Promise<void> {
  // Keys from the environment need no file (a container may ship none); otherwise livekit.yaml.
  const lk =
    env.LIVEKIT_API_KEY && env.LIVEKIT_API_SECRET && env.LIVEKIT_URL
      ? { apiKey: env.LIVEKIT_API_KEY, apiSecret: env.LIVEKIT_API_SECRET, host: '', port: 0 }
      : loadLiveKitConfig(flags.config, env);
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port: not a port: ${flags.port}`);
  const rate = str(env.TOKEN_SERVER_RATE_LIMIT);
  const perMinute = rate === undefined ? 30 : Number(rate);
  if (!Number.isInteger(perMinute) || perMinute < 0) throw new Error('TOKEN_SERVER_RATE_LIMIT: not a count');

  const server = await startTokenServer({
    port,
    host: flags.host,
    livekitUrl: str(env.LIVEKIT_URL) ?? `ws://${lk.host}:${lk.port}`,
    apiKey: lk.apiKey,
    apiSecret: lk.apiSecret,
    // As the SDK reads it: ENTERPRISE, when set, wins over VERTEXAI.
    vertexai: /^(1|true|yes|on)$/i.test(
      (env.GOOGLE_GENAI_USE_ENTERPRISE ?? env.GOOGLE_GENAI_USE_VERTEXAI ?? '').trim(),
    ),
    geminiApiKey: str(env.GEMINI_API_KEY) ?? str(env.GOOGLE_API_KEY),
    geminiBaseUrl: str(env.GOOGLE_GEMINI_BASE_URL),
    model: str(env.GEMINI_MODEL),
    agentName: str(env.AGENT_NAME),
    allowedAgents: list(env.TOKEN_SERVER_ALLOWED_AGENTS),
    agentMetadataKeys: list(env.TOKEN_SERVER_AGENT_METADATA_KEYS),
    auth: env.TOKEN_SERVER_BEARER ? { bearer: env.TOKEN_SERVER_BEARER } : 'none',
    corsOrigins: list(env.TOKEN_SERVER_CORS_ORIGINS),
    allowedHosts: list(env.TOKEN_SERVER_ALLOWED_HOSTS),
    rateLimit: perMinute === 0 ? false : { max: perMinute, windowMs: 60_000 },
    trustProxy: /^(1|true|yes|on)$/i.test(env.TOKEN_SERVER_TRUST_PROXY ?? ''),
    staticDir: flags['static-dir'],
  });
  console.log(server.url);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`token-server: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
