import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { serveStatic } from '@hono/node-server/serve-static';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { methodNotAllowed } from 'hono/method-not-allowed';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Authenticator } from './auth.ts';
import { errorResponse, HttpError } from './errors.ts';
import type { GeminiMinter } from './gemini-token.ts';
import { type LiveKitMinterConfig, mintLiveKitToken } from './livekit-token.ts';
import type { TokenServerMetrics } from './metrics.ts';
import type { AuthIdentity } from './options.ts';
import type { OriginPolicy } from './origins.ts';
import type { RateLimiter } from './rate-limit.ts';
import { geminiTokenRequest, livekitTokenRequest, toFieldIssues } from './schemas.ts';

/** Why `POST /gemini/token` answers 501 on Vertex AI; the web demo shows it as given. */
export const VERTEX_NO_EPHEMERAL_TOKENS =
  'This deployment runs Gemini on Vertex AI, which has no ephemeral tokens (the Gemini Developer API has them), so a browser cannot open its own Live session: use a LiveKit room with the agent.';

/** The resolved pieces the routes are built from. */
export interface AppDeps {
  livekit: LiveKitMinterConfig;
  /** The ephemeral-token minter; `'vertex'` when Gemini runs on Vertex AI (which has none); null: unset. */
  gemini: GeminiMinter | 'vertex' | null;
  authenticate: Authenticator;
  limiter: RateLimiter | null;
  /** Allowed browser origins and Host names. */
  origins: OriginPolicy;
  trustProxy: boolean;
  maxBodyBytes: number;
  /** Deadline for one `authTokens.create` call. */
  upstreamTimeoutMs: number;
  staticDir: string | undefined;
  metrics: TokenServerMetrics;
  logger: Logger;
  /** Replaces every configured secret in a string (for upstream error text before it is logged). */
  redact: (s: string) => string;
}

type Env = { Bindings: HttpBindings; Variables: { caller: AuthIdentity; client: string } };

/** Builds the Hono app: routes, the guard chain of the token endpoints, and uniform JSON errors. */
export function createApp(deps: AppDeps): Hono<Env> {
  const { metrics, logger } = deps;
  const app = new Hono<Env>();

  app.onError((err, c) => {
    const httpError =
      err instanceof HttpError
        ? err
        : new HttpError(500, 'internal_error', 'internal error, see server logs');
    if (!(err instanceof HttpError)) logger.error({ err: deps.redact(String(err)) }, 'unhandled error');
    metrics.rejected(httpError.reason);
    // A flood would otherwise turn into a flood of log lines: 429s are counted, logged at debug only.
    logger[httpError.status === 429 ? 'debug' : 'info'](
      { status: httpError.status, reason: httpError.reason, path: c.req.path, client: c.get('client') },
      'request refused',
    );
    return errorResponse(c, httpError);
  });

  app.use(async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
  });

  // Before anything else: a rebound name gets nothing from any route, static pages and metrics included.
  app.use(async (c, next) => {
    if (!deps.origins.allowsHost(c.req.header('host'))) {
      throw new HttpError(
        403,
        'host_not_allowed',
        'this server does not answer to that Host name (allowedHosts / TOKEN_SERVER_ALLOWED_HOSTS)',
      );
    }
    await next();
  });

  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        metrics.rejected('method_not_allowed');
        return errorResponse(
          c,
          new HttpError(405, 'method_not_allowed', `use ${methods.join(' or ')}`, {
            headers: { Allow: methods.join(', ') },
          }),
        );
      },
    }),
  );

  // The port the request really arrived on; the URL's port comes from the Host header.
  const isAllowedOrigin = (origin: string, c: Context<Env>): boolean =>
    deps.origins.allowsOrigin(origin, c.env.incoming.socket.localPort ?? 0);

  // Browsers always send Origin on cross-origin POSTs and preflights: refusing unknown origins outright
  // (rather than only withholding CORS headers) means a foreign page cannot even make us mint a token.
  const originGate: MiddlewareHandler<Env> = async (c, next) => {
    const origin = c.req.header('origin');
    if (origin !== undefined && !isAllowedOrigin(origin, c)) {
      throw new HttpError(403, 'origin_not_allowed', 'origin not allowed');
    }
    await next();
  };

  const corsHeaders = cors({
    origin: (origin, c) => (isAllowedOrigin(origin, c) ? origin : null),
    allowMethods: ['POST'],
    allowHeaders: ['Content-Type', 'Authorization'],
    maxAge: 600,
  });

  const clientAddress = (c: Context<Env>): string => {
    if (deps.trustProxy) {
      // The last hop is the one our proxy appended; earlier ones are whatever the client claimed.
      const forwarded = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
      if (forwarded) return forwarded;
    }
    return getConnInfo(c).remote.address ?? 'unknown';
  };

  const take = (key: string) => {
    if (!deps.limiter) return;
    const d = deps.limiter.take(key);
    if (!d.allowed) {
      throw new HttpError(429, 'rate_limited', 'too many requests, slow down', {
        headers: { 'Retry-After': String(d.retryAfterSeconds) },
      });
    }
  };

  // Budget first (it also throttles guessing at credentials), then authentication.
  const guard: MiddlewareHandler<Env> = async (c, next) => {
    const client = clientAddress(c);
    c.set('client', client);
    take(`addr:${client}`);
    // Verifiers see the method, URL and headers only: the body is read after its size is checked.
    const caller = await deps.authenticate(
      new Request(c.req.url, { method: c.req.method, headers: c.req.raw.headers }),
    );
    if (caller.subject !== undefined) take(`sub:${caller.subject}`);
    c.set('caller', caller);
    await next();
  };

  const limitBody = bodyLimit({
    maxSize: deps.maxBodyBytes,
    onError: () => {
      // The rest of the body is not read: closing tells the client not to reuse this connection.
      throw new HttpError(413, 'body_too_large', `request body exceeds ${deps.maxBodyBytes} bytes`, {
        headers: { Connection: 'close' },
      });
    },
  });

  // Every method (the OPTIONS preflight included) passes the origin gate and gets CORS headers.
  for (const path of ['/livekit/token', '/gemini/token']) app.use(path, originGate, corsHeaders);
  const tokenRoute = [guard, limitBody] as const;

  app.post('/livekit/token', ...tokenRoute, async (c) => {
    const req = await readBody(c, livekitTokenRequest);
    const res = await mintLiveKitToken(deps.livekit, req, c.get('caller'));
    metrics.minted('livekit');
    logger.info(
      {
        kind: 'livekit',
        room: res.room_name,
        identity: res.participant_identity,
        agents: req.room_config?.agents?.map((a) => a.agent_name),
        subject: c.get('caller').subject,
        client: c.get('client'),
      },
      'token minted',
    );
    return c.json(res, 201, { 'Cache-Control': 'no-store' });
  });

  app.post('/gemini/token', ...tokenRoute, async (c) => {
    await readBody(c, geminiTokenRequest);
    if (!deps.gemini) throw new HttpError(503, 'not_configured', 'Gemini is not configured on this server');
    if (deps.gemini === 'vertex') {
      // Not a fault to retry: the service this deployment uses has no such thing (research §5).
      throw new HttpError(501, 'ephemeral_tokens_unavailable', VERTEX_NO_EPHEMERAL_TOKENS);
    }
    let res: Awaited<ReturnType<GeminiMinter['mint']>>;
    try {
      res = await deps.gemini.mint(
        AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(deps.upstreamTimeoutMs)]),
      );
    } catch (err) {
      logger.warn(
        { err: deps.redact(err instanceof Error ? err.message : String(err)) },
        'ephemeral token failed',
      );
      throw new HttpError(502, 'upstream_error', 'the Gemini API did not issue a token');
    }
    metrics.minted('gemini');
    logger.info(
      { kind: 'gemini', model: res.model, subject: c.get('caller').subject, client: c.get('client') },
      'token minted',
    );
    return c.json(res, 201, { 'Cache-Control': 'no-store' });
  });

  // Explicit, so a static catch-all (staticDir) cannot turn a wrong method into a 404.
  for (const path of ['/livekit/token', '/gemini/token']) {
    app.all(path, () => {
      throw new HttpError(405, 'method_not_allowed', 'use POST', { headers: { Allow: 'POST, OPTIONS' } });
    });
  }

  app.get('/healthz', (c) => c.json({ status: 'ok' }, 200, { 'Cache-Control': 'no-store' }));

  app.get('/metrics', async (c) =>
    c.body(await metrics.text(), 200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' }),
  );

  if (deps.staticDir) app.get('/*', serveStatic({ root: deps.staticDir }));

  app.notFound((c) => c.json({ error: 'not_found', message: 'no such endpoint' }, 404));

  return app;
}

/**
 * Reads a JSON body against a schema. An empty body counts as `{}` (every field is optional), so
 * `curl -X POST` works; anything else must be declared JSON and parse.
 */
async function readBody<T extends z.ZodType>(c: Context<Env>, schema: T): Promise<z.infer<T>> {
  const raw = await c.req.text();
  let value: unknown = {};
  if (raw.trim() !== '') {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new HttpError(415, 'unsupported_media_type', 'send Content-Type: application/json');
    }
    try {
      value = JSON.parse(raw);
    } catch {
      throw new HttpError(400, 'malformed_json', 'request body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error);
    const summary = issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join('; ');
    throw new HttpError(400, 'invalid_request', summary, { issues });
  }
  return parsed.data;
}
