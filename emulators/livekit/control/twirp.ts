import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Message, MessageType } from '@bufbuild/protobuf';
import type { ClaimGrants } from 'livekit-server-sdk';
import type { ApiKeys } from '../api-keys.ts';
import { AuthFailure, PermissionDenied, verifyBearer } from './auth.ts';

/**
 * Twirp error codes the control plane uses, with the HTTP status each maps to (twirp spec).
 * Clients (`livekit-server-sdk`) read `code`/`msg` from the JSON body and the status from the response.
 */
const TWIRP_STATUS = {
  invalid_argument: 400,
  malformed: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
} as const;

export type TwirpCode = keyof typeof TWIRP_STATUS;

/** A failure reported to the caller as a Twirp error (`{code,msg,meta}`). */
export class TwirpError extends Error {
  readonly code: TwirpCode;
  readonly meta: Record<string, string> | undefined;
  constructor(code: TwirpCode, msg: string, meta?: Record<string, string>) {
    super(msg);
    this.name = 'TwirpError';
    this.code = code;
    this.meta = meta;
  }
  get status(): number {
    return TWIRP_STATUS[this.code];
  }
}

/** What a method handler receives: the decoded request and the caller's verified claims. */
export interface TwirpContext {
  claims: ClaimGrants;
}

/** One RPC: its request/response protobuf classes and the handler. */
export interface TwirpMethod<I extends Message<I>, O extends Message<O>> {
  input: MessageType<I>;
  output: MessageType<O>;
  handle(req: I, ctx: TwirpContext): Promise<O> | O;
}

/** Builds a typed method entry (keeps the request/response types tied together). */
export function method<I extends Message<I>, O extends Message<O>>(
  input: MessageType<I>,
  output: MessageType<O>,
  handle: (req: I, ctx: TwirpContext) => Promise<O> | O,
): TwirpMethod<I, O> {
  return { input, output, handle };
}

// biome-ignore lint/suspicious/noExplicitAny: a registry of heterogeneous methods
type AnyMethod = TwirpMethod<any, any>;

/** Service name (e.g. `livekit.RoomService`) → method name → implementation. */
export type TwirpServices = Record<string, Record<string, AnyMethod>>;

export interface TwirpRouterOptions {
  services: TwirpServices;
  /** API key → secret; tokens are verified against these. */
  keys: ApiKeys;
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies are refused as malformed. */
  maxBodyBytes?: number;
  /** Called for unexpected handler failures (answered as `internal`). */
  onError?: (err: unknown, route: string) => void;
}

const PREFIX = '/twirp/';

/**
 * Serves `POST /twirp/<package.Service>/<Method>` with JSON (protobuf JSON mapping) or
 * `application/protobuf` bodies, answering in the request's encoding. Authentication is
 * Bearer JWT only; each handler checks the grants its method needs.
 */
export class TwirpRouter {
  readonly #opts: TwirpRouterOptions;
  readonly #maxBody: number;
  /**
   * `<package.Service>/<Method>` → method. A Map: the route is client input, and indexing the services
   * object with it would also find `constructor`, `toString`… (answered `malformed`, not `bad_route`).
   */
  readonly #routes: ReadonlyMap<string, AnyMethod>;

  constructor(opts: TwirpRouterOptions) {
    this.#opts = opts;
    this.#maxBody = opts.maxBodyBytes ?? 1 << 20;
    this.#routes = new Map(
      Object.entries(opts.services).flatMap(([service, methods]) =>
        Object.entries(methods).map(([name, m]) => [`${service}/${name}`, m] as const),
      ),
    );
  }

  /** True when the request is a Twirp route; the response is then owned by the router. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (!path.startsWith(PREFIX)) return false;
    // Like livekit-server, allow browser callers: every call carries its own Bearer token, no cookies.
    res.setHeader('access-control-allow-origin', req.headers.origin ?? '*');
    res.setHeader('vary', 'Origin');
    if (req.method === 'OPTIONS') {
      req.resume();
      res.writeHead(204, {
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*',
        'access-control-max-age': '600',
      });
      res.end();
      return true;
    }
    this.#serve(req, res, path.slice(PREFIX.length)).catch((err) => {
      this.#opts.onError?.(err, path);
      if (!res.headersSent) writeError(res, new TwirpError('internal', 'internal error'));
      else res.destroy();
    });
    return true;
  }

  async #serve(req: IncomingMessage, res: ServerResponse, route: string): Promise<void> {
    const m = this.#routes.get(route);
    if (req.method !== 'POST') {
      req.resume();
      return writeError(
        res,
        new TwirpError('bad_route', `unsupported method ${req.method} (only POST is allowed)`),
      );
    }
    if (!m) {
      req.resume();
      return writeError(res, new TwirpError('bad_route', `no handler for path /twirp/${route}`));
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    const binary = contentType === 'application/protobuf';
    if (!binary && contentType !== 'application/json') {
      req.resume();
      return writeError(
        res,
        new TwirpError(
          'bad_route',
          `unexpected Content-Type: ${JSON.stringify(req.headers['content-type'] ?? '')}`,
        ),
      );
    }

    let claims: ClaimGrants;
    try {
      claims = await verifyBearer(req.headers.authorization, this.#opts.keys);
    } catch (err) {
      req.resume();
      if (err instanceof AuthFailure) return writeError(res, new TwirpError('unauthenticated', err.message));
      throw err;
    }

    const body = await readBody(req, this.#maxBody);
    if (body === undefined) {
      return writeError(res, new TwirpError('malformed', `request body exceeds ${this.#maxBody} bytes`));
    }
    let input: Message;
    try {
      input = binary
        ? m.input.fromBinary(body)
        : m.input.fromJsonString(body.length ? body.toString('utf8') : '{}', { ignoreUnknownFields: true });
    } catch (err) {
      return writeError(
        res,
        new TwirpError('malformed', `the request could not be decoded: ${(err as Error).message}`),
      );
    }

    let output: Message;
    try {
      output = await m.handle(input, { claims });
    } catch (err) {
      if (err instanceof TwirpError) return writeError(res, err);
      if (err instanceof PermissionDenied)
        return writeError(res, new TwirpError('permission_denied', err.message));
      throw err;
    }
    const payload = binary ? Buffer.from(output.toBinary()) : Buffer.from(output.toJsonString(), 'utf8');
    res.writeHead(200, {
      'content-type': binary ? 'application/protobuf' : 'application/json',
      'content-length': payload.length,
    });
    res.end(payload);
  }
}

function writeError(res: ServerResponse, err: TwirpError): void {
  const body = JSON.stringify({ code: err.code, msg: err.message, ...(err.meta ? { meta: err.meta } : {}) });
  // livekit-server-sdk only parses the body as JSON when the content type is exactly this string.
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Reads the whole body, or undefined once it grows past `limit` (the rest is drained, not stored). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
