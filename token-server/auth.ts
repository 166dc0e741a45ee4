import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.ts';
import type { AuthIdentity, AuthOption } from './options.ts';

/** Decides one request: resolves with what is known about the caller, or throws a 401 {@link HttpError}. */
export type Authenticator = (request: Request) => Promise<AuthIdentity>;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function unauthorized(message: string): HttpError {
  return new HttpError(401, 'unauthorized', message, { headers: { 'WWW-Authenticate': 'Bearer' } });
}

/** Turns the `auth` option into one function the routes call. */
export function createAuthenticator(option: AuthOption): Authenticator {
  if (option === 'none') return async () => ({});

  if (typeof option === 'function') {
    return async (request) => {
      let result: AuthIdentity | false | null | undefined;
      try {
        result = await option(request);
      } catch {
        // A verifier that throws (e.g. its identity provider is down) must not let the caller in.
        throw unauthorized('authentication failed');
      }
      if (!result) throw unauthorized('authentication failed');
      return result;
    };
  }

  if (!option.bearer) throw new Error('auth.bearer must not be empty');
  // Hashing first makes the comparison constant-time regardless of the presented length.
  const expected = digest(option.bearer);
  return async (request) => {
    const header = request.headers.get('authorization') ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized('missing bearer token');
    if (!timingSafeEqual(digest(match[1]!), expected)) throw unauthorized('invalid bearer token');
    return {};
  };
}
