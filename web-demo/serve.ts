// Serves the built web demo and the one thing the page cannot know by itself: where the token server
// (and, for direct mode, the Gemini service) is — as a generated `/config.json`.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { compress } from 'hono/compress';
import { ensureWebDemoBuilt } from './build.ts';

export { ensureWebDemoBuilt, isBuildFresh, WEB_DEMO_DIST } from './build.ts';

/** Options of {@link startWebDemo}. */
export interface WebDemoOptions {
  /** TCP port; `0` picks a free one (read it back from `url`). */
  port: number;
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /** Base URL of the token server the page asks for LiveKit and Gemini tokens. */
  tokenServerUrl: string;
  /**
   * Gemini service for direct mode when the token server's answer does not name one (it normally does:
   * `base_url`). Default: Google's endpoint.
   */
  geminiBaseUrl?: string;
  /** Live model for direct mode when the token server's answer does not name one. */
  geminiModel?: string;
  /** Agent the page asks the token server to dispatch. Default: none (automatic dispatch). */
  agentName?: string;
  /** How long the page waits for the agent before saying it did not join. Default 20000 ms. */
  agentJoinTimeoutMs?: number;
  /** Directory of a built bundle to serve as is. Default: `web-demo/dist`, built first if stale. */
  distDir?: string;
}

/** A running web demo server. */
export interface WebDemo {
  /** `http://HOST:PORT` (loopback when bound to a wildcard address). */
  url: string;
  /** Stops accepting connections and ends open ones. */
  close(): Promise<void>;
}

// The page loads its code only from itself; it talks to the token server, LiveKit and Gemini, whose
// addresses are configuration, so any http(s)/ws(s) origin may be a connect target.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "worker-src 'self' blob:",
  'connect-src http: https: ws: wss:',
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Starts the web demo server, building the bundle first when it is missing or stale. */
export async function startWebDemo(o: WebDemoOptions): Promise<WebDemo> {
  if (!/^https?:\/\//.test(o.tokenServerUrl)) throw new Error('tokenServerUrl must be an http(s):// URL');
  const root = o.distDir ?? (await ensureWebDemoBuilt());
  const config = JSON.stringify({
    tokenServerUrl: o.tokenServerUrl,
    geminiBaseUrl: o.geminiBaseUrl,
    geminiModel: o.geminiModel,
    agentName: o.agentName,
    agentJoinTimeoutMs: o.agentJoinTimeoutMs,
  });

  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Permissions-Policy', 'microphone=(self), camera=(self), display-capture=(self)');
  });
  app.use(compress());
  app.get('/config.json', (c) =>
    c.body(config, 200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }),
  );
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.use(
    '/assets/*',
    serveStatic({
      root,
      // File names carry a content hash: cache them for good.
      onFound: (_path, c) => {
        c.header('Cache-Control', 'public, max-age=31536000, immutable');
      },
    }),
  );
  app.use(
    '/*',
    serveStatic({
      root,
      onFound: (_path, c) => {
        c.header('Cache-Control', 'no-cache');
      },
    }),
  );
  app.notFound((c) => c.text('not found', 404));

  const host = o.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: o.port, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      return closing;
    },
  };
}
