/**
 * Ephemeral auth tokens (`POST /v1alpha/auth_tokens`): short-lived credentials a browser uses on the
 * `BidiGenerateContentConstrained` path. Honours `uses` (0 = unlimited; resumptions do not count),
 * `expireTime` (30 min by default), `newSessionExpireTime` (60 s by default) and locked setup fields
 * (`bidiGenerateContentSetup` + `fieldMask`).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { setupSchema } from './protocol.ts';

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

/**
 * Path segments that would reach an object's prototype chain instead of a setup field: a mask naming
 * one of them could otherwise rewrite `Object.prototype` for the whole process.
 */
const UNSAFE_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);
const SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SETUP_FIELDS = new Set(Object.keys(setupSchema.shape));

/** Splits a request's `fieldMask` (comma-separated string or list) into trimmed, non-empty paths. */
export function maskPaths(fieldMask: CreateTokenRequest['fieldMask']): string[] | undefined {
  const raw = typeof fieldMask === 'string' ? fieldMask.split(',') : fieldMask;
  return raw?.map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * The first mask path that does not name a `BidiGenerateContentSetup` field, or `undefined` when all
 * do. Only the first segment is checked against the setup's fields (nested messages are open-ended),
 * but every segment must be a plain field name and none may be `__proto__`/`constructor`/`prototype`.
 */
export function invalidMaskPath(paths: readonly string[]): string | undefined {
  return paths.find((path) => {
    const segments = normalisePath(path);
    return (
      !SETUP_FIELDS.has(segments[0]!) || segments.some((s) => !SEGMENT.test(s) || UNSAFE_SEGMENTS.has(s))
    );
  });
}

export type TokenCheck = { ok: true; token: AuthToken } | { ok: false; reason: string };

export class TokenStore {
  #tokens = new Map<string, AuthToken>();

  create(request: CreateTokenRequest, at = Date.now()): AuthToken {
    this.#sweep(at);
    const mask = maskPaths(request.fieldMask);
    const bad = mask && invalidMaskPath(mask);
    if (bad !== undefined) throw new RangeError(`invalid field mask path "${bad}"`);
    const token: AuthToken = {
      name: `auth_tokens/${randomBytes(24).toString('hex')}`,
      expireTime: request.expireTime ? Date.parse(request.expireTime) : at + 30 * 60_000,
      newSessionExpireTime: request.newSessionExpireTime
        ? Date.parse(request.newSessionExpireTime)
        : at + 60_000,
      usesLeft: request.uses === 0 ? Number.POSITIVE_INFINITY : (request.uses ?? 1),
      setup: request.bidiGenerateContentSetup as Record<string, unknown> | undefined,
      fieldMask: mask,
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

/** Reads own properties only: an inherited `constructor` or `__proto__` is not a setup field. */
function getPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * Writes (or deletes, for `undefined`) one field. Tokens with unsafe paths are refused when minted;
 * this refuses them again so no caller can write through the prototype chain.
 */
function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  if (path.some((key) => UNSAFE_SEGMENTS.has(key))) return;
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = Object.hasOwn(cur, key) ? cur[key] : undefined;
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
