import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Modality } from '@google/genai';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { DEFAULT_LIVE_MODEL } from '../shared/gemini-models/index.ts';
import { loadLiveKitConfig } from '../shared/livekit-config.ts';
import { checkMetadataKeys } from './agent-dispatch.ts';
import { createApp } from './app.ts';
import { createAuthenticator } from './auth.ts';
import { GeminiMinter } from './gemini-token.ts';
import { TokenServerMetrics } from './metrics.ts';
import type { TokenServerOptions } from './options.ts';
import { createOriginPolicy } from './origins.ts';
import { RateLimiter } from './rate-limit.ts';

export type { ErrorBody, FieldIssue, RejectionReason } from './errors.ts';
export type { GeminiTokenResponse } from './gemini-token.ts';
export type { LiveKitTokenResponse } from './livekit-token.ts';
export type {
  AuthIdentity,
  AuthOption,
  AuthVerifier,
  RateLimitOptions,
  TokenServerOptions,
} from './options.ts';
export { LIMITS } from './options.ts';

/** A running token server. */
export interface TokenServer {
  /** `http://HOST:PORT` (loopback when bound to a wildcard address). */
  url: string;
  /** Stops accepting connections; in-flight requests may finish (cut after `requestTimeoutMs`). */
  close(): Promise<void>;
}

/**
 * Starts the token server: `POST /livekit/token` (LiveKit's standard token endpoint), `POST /gemini/token`
 * (single-use Live API ephemeral tokens), `GET /healthz`, `GET /metrics`, and optionally static files.
 */
export async function startTokenServer(o: TokenServerOptions = {}): Promise<TokenServer> {
  const logger =
    o.logger ??
    pino({ level: 'info', base: { service: 'token-server' } }, pino.destination({ fd: 2, sync: false }));

  let { apiKey, apiSecret, livekitUrl } = o;
  if (!apiKey || !apiSecret || !livekitUrl) {
    // Pass no env: the file's own keys, exactly as a local livekit-server started with it would use.
    const file = loadLiveKitConfig(undefined, {});
    if (!apiKey || !apiSecret) ({ apiKey, apiSecret } = file);
    livekitUrl ??= `ws://${file.host}:${file.port}`;
  }
  if (!/^wss?:\/\/|^https?:\/\//.test(livekitUrl))
    throw new Error('livekitUrl must be a ws(s):// or http(s):// URL');

  const secrets = [apiSecret, o.geminiApiKey, typeof o.auth === 'object' ? o.auth.bearer : undefined].filter(
    (s): s is string => !!s && s.length >= 4,
  );
  const redact = (s: string) => secrets.reduce((acc, secret) => acc.split(secret).join('[REDACTED]'), s);

  const auth = o.auth ?? 'none';
  if (auth === 'none') {
    logger.warn(
      'token server authentication is OFF: anyone who can reach it gets tokens (local development only)',
    );
  }

  const agentMetadataKeys = o.agentMetadataKeys ?? [];
  checkMetadataKeys(agentMetadataKeys);
  const metrics = new TokenServerMetrics();
  const app = createApp({
    livekit: {
      livekitUrl,
      apiKey,
      apiSecret,
      ttlSeconds: positive(o.livekitTokenTtlSeconds ?? 600, 'livekitTokenTtlSeconds'),
      grants: o.grants ?? { canPublish: true, canSubscribe: true, canPublishData: true },
      agents: {
        defaultAgent: o.agentName || undefined,
        allowedAgents: new Set(o.allowedAgents ?? (o.agentName ? [o.agentName] : [])),
        metadataKeys: new Set(agentMetadataKeys),
      },
    },
    gemini: o.vertexai
      ? 'vertex'
      : o.geminiApiKey
        ? new GeminiMinter({
            apiKey: o.geminiApiKey,
            baseUrl: o.geminiBaseUrl || undefined,
            model: o.model ?? DEFAULT_LIVE_MODEL,
            liveConfig: o.liveConfig ?? { responseModalities: [Modality.AUDIO] },
            lockAdditionalFields: o.lockAdditionalFields ?? [],
            ttlSeconds: positive(o.geminiTokenTtlSeconds ?? 1800, 'geminiTokenTtlSeconds'),
            newSessionTtlSeconds: positive(o.geminiNewSessionTtlSeconds ?? 60, 'geminiNewSessionTtlSeconds'),
          })
        : null,
    authenticate: createAuthenticator(auth),
    limiter: o.rateLimit === false ? null : new RateLimiter(o.rateLimit ?? { max: 30, windowMs: 60_000 }),
    origins: createOriginPolicy({
      corsOrigins: o.corsOrigins,
      allowedHosts: o.allowedHosts,
      bindHost: o.host ?? '127.0.0.1',
    }),
    trustProxy: o.trustProxy ?? false,
    maxBodyBytes: positive(o.maxBodyBytes ?? 16 * 1024, 'maxBodyBytes'),
    upstreamTimeoutMs: positive(o.geminiTimeoutMs ?? 10_000, 'geminiTimeoutMs'),
    staticDir: o.staticDir,
    metrics,
    logger,
    redact,
  });

  const host = o.host ?? '127.0.0.1';
  const requestTimeoutMs = positive(o.requestTimeoutMs ?? 15_000, 'requestTimeoutMs');
  const headersTimeoutMs = Math.min(
    positive(o.headersTimeoutMs ?? 10_000, 'headersTimeoutMs'),
    requestTimeoutMs,
  );
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: o.port ?? 0,
        hostname: host,
        createServer,
        serverOptions: {
          requestTimeout: requestTimeoutMs,
          headersTimeout: headersTimeoutMs,
          // Node checks both deadlines only on this timer (30 s by default), so a drip-fed request
          // outlived a 15 s deadline by up to 30 s. A twentieth of the shorter deadline keeps the cut
          // within 5 % (at most 500 ms) of it; the check is a walk over open connections, cheap.
          connectionsCheckingInterval: Math.max(10, Math.min(500, Math.floor(headersTimeoutMs / 20))),
        },
      },
      () => resolve(s as Server),
    );
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  logger.info(
    {
      url,
      livekitUrl,
      auth: typeof auth === 'string' ? auth : typeof auth === 'function' ? 'verifier' : 'bearer',
      gemini: o.geminiApiKey ? 'on' : 'off',
    },
    'token server listening',
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        // In-flight requests may finish (rolling deploys); idle keep-alive sockets go at once, and
        // whatever is still open after the request deadline is cut.
        const cut = setTimeout(() => server.closeAllConnections(), requestTimeoutMs);
        cut.unref();
        server.close((err) => {
          clearTimeout(cut);
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}
