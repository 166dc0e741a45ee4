/**
 * Transport: one node:http server for the REST routes (`auth_tokens`, the OAuth2 token endpoint, health)
 * and the WebSocket upgrades to BidiGenerateContent (Gemini API and Vertex AI). Routing only; sessions
 * do the protocol.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ResolvedOptions } from './options.ts';
import type { ResumptionStore } from './resumption.ts';
import type { ParsedScenario } from './scenario.ts';
import { LiveSession, type Route, type SessionContext } from './session.ts';
import { createTokenSchema, invalidMaskPath, maskPaths, type TokenStore } from './tokens.ts';
import type { VertexAuth } from './vertex-auth.ts';

// Anchored at the end only: a base URL with a path prefix (a reverse proxy's `/gemini`) still routes.
const WS_PATH =
  /(?:^|\/)ws\/+google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\.GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$/;
// Vertex AI, as @google/genai builds it for `vertexai: true` (research §5): no query, the model in setup.
const VERTEX_WS_PATH =
  /(?:^|\/)ws\/+google\.cloud\.aiplatform\.(v1|v1beta1)\.LlmBidiService\/BidiGenerateContent$/;
const TOKENS_PATH = /(?:^|\/)(v1alpha|v1beta)\/auth_tokens$/;
/** The OAuth2 endpoints a service account's key file points at (`token_uri`) and Google's `/revoke`. */
const OAUTH_TOKEN_PATH = /(?:^|\/)token$/;
const OAUTH_REVOKE_PATH = /(?:^|\/)revoke$/;
const MAX_BODY_BYTES = 1024 * 1024;

/** Splits a request target into a slash-trimmed path and its query (the SDK may send `//ws/...`). */
export function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const q = target.indexOf('?');
  const rawPath = q >= 0 ? target.slice(0, q) : target;
  return {
    path: rawPath.replace(/^\/+/, '').replace(/\/+$/, ''),
    query: new URLSearchParams(q >= 0 ? target.slice(q + 1) : ''),
  };
}

/** Parses a BidiGenerateContent URL; `undefined` when it is not one. */
export function parseRoute(target: string): Route | undefined {
  const { path, query } = splitTarget(target);
  const v = VERTEX_WS_PATH.exec(path);
  if (v) return { backend: 'vertex', apiVersion: v[1]!, constrained: false, credential: undefined };
  const m = WS_PATH.exec(path);
  if (!m) return undefined;
  const constrained = m[2] === 'BidiGenerateContentConstrained';
  const credential = (constrained ? query.get('access_token') : query.get('key')) ?? undefined;
  return { backend: 'gemini', apiVersion: m[1]!, constrained, credential: credential || undefined };
}

export interface ServerHooks {
  options: ResolvedOptions;
  scenario: () => ParsedScenario | undefined;
  tokens: TokenStore;
  handles: ResumptionStore;
  vertex: VertexAuth;
  onSession(session: LiveSession): void;
  /** An access token was revoked: the sessions it opened end. */
  onRevoke(token: string): void;
}

export function createEmulatorServer(hooks: ServerHooks): { http: Server; wss: WebSocketServer } {
  const { options } = hooks;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.limits.maxPayloadBytes });
  const http = createServer((req, res) => {
    handleHttp(req, res, hooks).catch((err: unknown) => {
      options.log(`http error: ${(err as Error).message}`);
      if (!res.headersSent) sendError(res, 500, 'Internal error encountered.', 'INTERNAL');
      else res.destroy();
    });
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const route = parseRoute(req.url ?? '');
    if (!route) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (route.backend === 'vertex') {
      // Google's front end checks the OAuth token before the request reaches the service: a bad one
      // fails the HTTP upgrade itself (401), the client never gets a socket (docs/vertex.md).
      const auth = hooks.vertex.checkBearer(req.headers.authorization);
      if (!auth.ok) {
        const body = JSON.stringify({
          error: { code: 401, message: auth.message, status: 'UNAUTHENTICATED' },
        });
        socket.end(
          `HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: application/json; charset=UTF-8\r\nWWW-Authenticate: Bearer realm="https://accounts.google.com/"\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        return;
      }
      route.accessToken = auth.token.token;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const ctx: SessionContext = {
        id: randomUUID(),
        options,
        scenario: hooks.scenario,
        tokens: hooks.tokens,
        handles: hooks.handles,
        route,
      };
      hooks.onSession(new LiveSession(ws, ctx));
    });
  });
  http.on('clientError', (_err, socket) => socket.destroy());
  return { http, wss };
}

async function handleHttp(req: IncomingMessage, res: ServerResponse, hooks: ServerHooks): Promise<void> {
  const { path, query } = splitTarget(req.url ?? '');
  if (path === 'healthz' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (OAUTH_TOKEN_PATH.test(path) || OAUTH_REVOKE_PATH.test(path)) return handleOAuth(req, res, path, hooks);
  if (!TOKENS_PATH.test(path)) return sendError(res, 404, `Path /${path} not found.`, 'NOT_FOUND');
  if (req.method !== 'POST') return sendError(res, 405, 'Method not allowed.', 'INVALID_ARGUMENT');
  const key = (req.headers['x-goog-api-key'] as string | undefined) ?? query.get('key') ?? undefined;
  if (!key) {
    return sendError(
      res,
      403,
      "Method doesn't allow unregistered callers. Please use an API key.",
      'PERMISSION_DENIED',
    );
  }
  if (
    key.startsWith('auth_tokens/') ||
    (hooks.options.apiKey !== undefined && key !== hooks.options.apiKey)
  ) {
    return sendError(res, 400, 'API key not valid. Please pass a valid API key.', 'INVALID_ARGUMENT');
  }
  const body = await readBody(req);
  if (body === undefined) return sendError(res, 413, 'Request payload too large.', 'INVALID_ARGUMENT');
  let json: unknown;
  try {
    json = body.length ? JSON.parse(body) : {};
  } catch {
    return sendError(res, 400, 'Invalid JSON payload received.', 'INVALID_ARGUMENT');
  }
  const parsed = createTokenSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return sendError(
      res,
      400,
      `Invalid JSON payload received at '${issue.path.join('.')}': ${issue.message}`,
      'INVALID_ARGUMENT',
    );
  }
  const horizon = Date.now() + 20 * 60 * 60_000;
  for (const field of ['expireTime', 'newSessionExpireTime'] as const) {
    const value = parsed.data[field];
    if (value !== undefined && Date.parse(value) > horizon) {
      return sendError(res, 400, `${field} must be less than 20 hours in the future.`, 'INVALID_ARGUMENT');
    }
  }
  const bad = invalidMaskPath(maskPaths(parsed.data.fieldMask) ?? []);
  if (bad !== undefined) {
    return sendError(
      res,
      400,
      `Invalid field_mask: '${bad}' is not a field of BidiGenerateContentSetup.`,
      'INVALID_ARGUMENT',
    );
  }
  const token = hooks.tokens.create(parsed.data);
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(
    JSON.stringify({
      name: token.name,
      expireTime: new Date(token.expireTime).toISOString(),
      newSessionExpireTime: new Date(token.newSessionExpireTime).toISOString(),
      uses: Number.isFinite(token.usesLeft) ? token.usesLeft : 0,
    }),
  );
}

/** Google's OAuth2 endpoints: the token grant (form-encoded) and `/revoke?token=`. */
async function handleOAuth(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  hooks: ServerHooks,
): Promise<void> {
  const json = (status: number, body: Record<string, unknown>): void => {
    res
      .writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
      .end(JSON.stringify(body));
  };
  if (req.method !== 'POST') return json(405, { error: 'invalid_request', error_description: 'Use POST.' });
  const body = await readBody(req);
  if (body === undefined)
    return json(413, { error: 'invalid_request', error_description: 'Request too large.' });
  const form = new URLSearchParams(body);
  if (OAUTH_REVOKE_PATH.test(path)) {
    const token = form.get('token') ?? splitTarget(req.url ?? '').query.get('token');
    if (!token || !hooks.vertex.revoke(token))
      return json(400, { error: 'invalid_token', error_description: 'Token is not valid.' });
    hooks.onRevoke(token);
    return json(200, {});
  }
  const answer = hooks.vertex.grant(form);
  // Never log the assertion or the token: only the outcome.
  hooks.options.log(`oauth token grant: ${answer.status === 200 ? 'issued' : String(answer.body.error)}`);
  return json(answer.status, answer.body);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooBig ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Google's REST error envelope. */
function sendError(res: ServerResponse, code: number, message: string, status: string): void {
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({ error: { code, message, status } }));
}
