/**
 * Ephemeral auth tokens (`POST /v1alpha/auth_tokens`): short-lived credentials a browser uses on the
 * `BidiGenerateContentConstrained` path. Honours `uses` (0 = unlimited; resumptions do not count),
 * `expireTime` (30 min by default), `newSessionExpireTime` (60 s by default) and locked setup fields
 * (`bidiGenerateContentSetup` + `fieldMask`).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

export const createTokenSchema = z.looseObject({
  expireTime: z.iso.datetime({ offset: true }).optional(),
  newSessionExpireTime: z.iso.datetime({ offset: true }).optional(),
  uses: z.number().int().nonnegative().optional(),
  bidiGenerateContentSetup: z.looseObject({}).optional(),
  fieldMask: z.union([z.string(), z.array(z.string())]).optional(),
});
export type CreateTokenRequest = z.infer<typeof createTokenSchema>;

export interface AuthToken {
  name: string;
  expireTime: number;
  newSessionExpireTime: number;
  /** Remaining new sessions; `Infinity` when created with `uses: 0`. */
  usesLeft: number;
  setup: Record<string, unknown> | undefined;
  fieldMask: string[] | undefined;
}

export type TokenCheck = { ok: true; token: AuthToken } | { ok: false; reason: string };

export class TokenStore {
  #tokens = new Map<string, AuthToken>();

  create(request: CreateTokenRequest, at = Date.now()): AuthToken {
    this.#sweep(at);
    const mask =
      typeof request.fieldMask === 'string'
        ? request.fieldMask.split(',').map((s) => s.trim())
        : request.fieldMask?.map((s) => s.trim());
    const token: AuthToken = {
      name: `auth_tokens/${randomBytes(24).toString('hex')}`,
      expireTime: request.expireTime ? Date.parse(request.expireTime) : at + 30 * 60_000,
      newSessionExpireTime: request.newSessionExpireTime
        ? Date.parse(request.newSessionExpireTime)
        : at + 60_000,
      usesLeft: request.uses === 0 ? Number.POSITIVE_INFINITY : (request.uses ?? 1),
      setup: request.bidiGenerateContentSetup as Record<string, unknown> | undefined,
      fieldMask: mask?.filter((s) => s.length > 0),
    };
    this.#tokens.set(token.name, token);
    return token;
  }

  /**
   * Checks a token presented on connect; consumes one use for a new session. Resumptions only need an
   * unexpired token.
   */
  use(name: string, resumption: boolean, at = Date.now()): TokenCheck {
    this.#sweep(at);
    const token = this.#tokens.get(name);
    if (!token) return { ok: false, reason: 'Auth token is not valid or has expired.' };
    if (!resumption) {
      if (at > token.newSessionExpireTime) {
        return {
          ok: false,
          reason: 'Auth token can no longer start new sessions (newSessionExpireTime passed).',
        };
      }
      if (token.usesLeft <= 0) return { ok: false, reason: 'Auth token has no uses left.' };
      token.usesLeft -= 1;
    }
    return { ok: true, token };
  }

  #sweep(at: number): void {
    for (const [n, t] of this.#tokens) if (t.expireTime <= at) this.#tokens.delete(n);
  }
}

/**
 * The setup a session runs with when its token carries constraints:
 * - no token setup: the client's setup, minus any `fieldMask` paths (locked to unset);
 * - token setup without a mask: everything locked to the token's setup (the client may only name the
 *   model when the token does not);
 * - token setup with a mask: the client's setup with the masked paths taken from the token.
 * Mask paths are dotted (`generationConfig.temperature`); bare generation-config names are accepted too.
 */
export function applyConstraints(
  client: Record<string, unknown>,
  token: Pick<AuthToken, 'setup' | 'fieldMask'>,
): Record<string, unknown> {
  const mask = token.fieldMask?.map(normalisePath);
  if (!token.setup) {
    if (!mask?.length) return client;
    const out = structuredClone(client);
    for (const path of mask) setPath(out, path, undefined);
    return out;
  }
  if (!mask?.length) {
    const out = structuredClone(token.setup);
    if (out.model === undefined) out.model = client.model;
    return out;
  }
  const out = structuredClone(client);
  for (const path of mask) setPath(out, path, structuredClone(getPath(token.setup, path)));
  return out;
}

const GENERATION_FIELDS = new Set([
  'temperature',
  'topK',
  'topP',
  'maxOutputTokens',
  'responseModalities',
  'seed',
  'speechConfig',
]);

function normalisePath(path: string): string[] {
  return GENERATION_FIELDS.has(path) ? ['generationConfig', path] : path.split('.');
}

function getPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null) {
      if (value === undefined) return;
      cur[key] = {};
    }
    cur = cur[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}
