/**
 * Google Cloud credentials for the Vertex AI endpoint: service accounts the emulator mints (it keeps
 * their public keys), the OAuth2 token endpoint's JWT-bearer grant (RFC 7523, the grant
 * google-auth-library's service-account client posts), the access tokens it issues, and their checks
 * on the WebSocket upgrade. Everything in memory; nothing here talks to Google.
 *
 * Error shapes follow Google's: the token endpoint answers RFC 6749 `{error, error_description}`
 * (google-auth-library turns them into "invalid_grant: Invalid JWT Signature."), the API front end a
 * 401 with the `{error: {code, message, status}}` envelope (as aiplatform.googleapis.com answers a
 * request without OAuth credentials, googleapis/js-genai#292).
 */
import { generateKeyPairSync, type KeyObject, randomBytes, verify } from 'node:crypto';

/** The scope `@google/genai` always asks for on Vertex AI (and the only one the emulator needs). */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Google's token endpoint: google-auth-library signs every assertion for this audience (hard-coded). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google issues access tokens for an hour; assertions may not be longer-lived than that. */
const ACCESS_TOKEN_TTL_MS = 3600_000;
const MAX_ASSERTION_S = 3600;
/** Clock skew tolerated on `iat`/`exp`. */
const SKEW_S = 300;

/** A service-account key file, as the Cloud console downloads it. */
export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  universe_domain: string;
}

interface Account {
  email: string;
  project: string;
  keys: Map<string, KeyObject>;
}

/** An access token the emulator issued. */
export interface AccessToken {
  token: string;
  email: string;
  project: string;
  expiresAt: number;
  revoked: boolean;
}

/** The outcome of the token endpoint: a JSON body and its HTTP status. */
export interface TokenEndpointAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** The reason of a refused bearer token, in Google's words. */
export type BearerCheck = { ok: true; token: AccessToken } | { ok: false; status: 401; message: string };

export const MISSING_CREDENTIALS =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.';
export const INVALID_CREDENTIALS =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.';

const oauthError = (error: string, description: string): TokenEndpointAnswer => ({
  status: error === 'invalid_client' ? 401 : 400,
  body: { error, error_description: description },
});

/** Service accounts, their keys and the access tokens issued to them. */
export class VertexAuth {
  #accounts = new Map<string, Account>();
  #tokens = new Map<string, AccessToken>();
  #tokenTtlMs: number;

  constructor(options: { accessTokenTtlMs?: number } = {}) {
    this.#tokenTtlMs = options.accessTokenTtlMs ?? ACCESS_TOKEN_TTL_MS;
  }

  /**
   * Mints a service account with a fresh RSA key and returns its key file, whose `token_uri` is
   * `tokenUri` (the emulator's own token endpoint). The emulator keeps only the public key.
   */
  createServiceAccount(tokenUri: string, o: { project?: string; name?: string } = {}): ServiceAccountKey {
    const project = o.project ?? 'emulator-project';
    const email = `${o.name ?? `sa-${randomBytes(4).toString('hex')}`}@${project}.iam.gserviceaccount.com`;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyId = randomBytes(20).toString('hex');
    const account = this.#accounts.get(email) ?? { email, project, keys: new Map() };
    account.keys.set(keyId, publicKey);
    this.#accounts.set(email, account);
    const clientId = String(BigInt(`0x${randomBytes(8).toString('hex')}`));
    return {
      type: 'service_account',
      project_id: project,
      private_key_id: keyId,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: clientId,
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: tokenUri,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
      universe_domain: 'googleapis.com',
    };
  }

  /** Deletes a service account: its assertions are refused and its access tokens stop working. */
  deleteServiceAccount(email: string): void {
    this.#accounts.delete(email);
    for (const t of this.#tokens.values()) if (t.email === email) t.revoked = true;
  }

  /** Issues an access token without the grant (tests: an already expired one with `ttlMs <= 0`). */
  issue(email: string, ttlMs = this.#tokenTtlMs): AccessToken {
    const account = this.#accounts.get(email);
    const token: AccessToken = {
      token: `ya29.emu-${randomBytes(24).toString('base64url')}`,
      email,
      project: account?.project ?? '',
      expiresAt: Date.now() + ttlMs,
      revoked: false,
    };
    this.#tokens.set(token.token, token);
    return token;
  }

  /** Revokes an access token (Google's `/revoke`); false when the emulator never issued it. */
  revoke(token: string): boolean {
    const t = this.#tokens.get(token);
    if (!t) return false;
    t.revoked = true;
    return true;
  }

  /** The token endpoint: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT`. */
  grant(form: URLSearchParams): TokenEndpointAnswer {
    const grantType = form.get('grant_type');
    if (!grantType) return oauthError('invalid_request', 'Missing required parameter: grant_type');
    if (grantType !== JWT_BEARER)
      return oauthError('unsupported_grant_type', `Invalid grant_type: ${grantType}`);
    const assertion = form.get('assertion');
    if (!assertion) return oauthError('invalid_request', 'Missing required parameter: assertion');
    const parsed = parseJwt(assertion);
    if (!parsed) return oauthError('invalid_grant', 'Invalid JWT: malformed assertion.');
    const { header, claims, signed, signature } = parsed;
    if (header.alg !== 'RS256') return oauthError('invalid_grant', 'Invalid JWT Signature.');
    const account = typeof claims.iss === 'string' ? this.#accounts.get(claims.iss) : undefined;
    if (!account) return oauthError('invalid_grant', 'Invalid grant: account not found');
    // google-auth-library puts no `kid` in the header: any of the account's keys may have signed it.
    const keys =
      typeof header.kid === 'string' && account.keys.has(header.kid)
        ? [account.keys.get(header.kid)!]
        : [...account.keys.values()];
    if (!keys.some((k) => verify('RSA-SHA256', Buffer.from(signed), k, signature))) {
      return oauthError('invalid_grant', 'Invalid JWT Signature.');
    }
    const nowS = Date.now() / 1000;
    const { iat, exp } = claims;
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      iat > nowS + SKEW_S ||
      exp < nowS - SKEW_S ||
      exp - iat > MAX_ASSERTION_S
    ) {
      return oauthError(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    if (typeof claims.aud !== 'string' || !/\/token$/.test(claims.aud)) {
      return oauthError('invalid_grant', 'Invalid JWT: audience is not a token endpoint.');
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
    if (!scopes.includes(CLOUD_PLATFORM_SCOPE)) {
      return oauthError(
        'invalid_scope',
        `Invalid OAuth scope or ID token audience provided; expected ${CLOUD_PLATFORM_SCOPE}.`,
      );
    }
    const token = this.issue(account.email);
    return {
      status: 200,
      body: {
        access_token: token.token,
        expires_in: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000) - 1),
        token_type: 'Bearer',
      },
    };
  }

  /** Checks the `Authorization` header of a Vertex AI request. */
  checkBearer(authorization: string | undefined): BearerCheck {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return { ok: false, status: 401, message: MISSING_CREDENTIALS };
    const t = this.#tokens.get(m[1]!);
    if (!t || t.revoked || Date.now() >= t.expiresAt) {
      return { ok: false, status: 401, message: INVALID_CREDENTIALS };
    }
    return { ok: true, token: t };
  }
}

/** Splits a compact JWS; `undefined` when it is not one with JSON header and claims. */
function parseJwt(jwt: string):
  | {
      header: Record<string, unknown>;
      claims: Record<string, unknown>;
      signed: string;
      signature: Buffer;
    }
  | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (typeof header !== 'object' || !header || typeof claims !== 'object' || !claims) return undefined;
    return {
      header: header as Record<string, unknown>,
      claims: claims as Record<string, unknown>,
      signed: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2]!, 'base64url'),
    };
  } catch {
    return undefined;
  }
}
