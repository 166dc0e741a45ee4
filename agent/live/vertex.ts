/**
 * Gemini Live on Vertex AI: the client, its credentials, and what their failures mean. The SDK does the
 * work (`vertexai: true`, google-auth-library's Application Default Credentials); this file adds what
 * the SDK leaves to the caller — reading the env the same way, a key file checked before use (a broken
 * one gets an error naming the file and the field, never its content), the key file's `token_uri`
 * honoured (google-auth-library posts service-account grants to a hard-coded Google URL), and a
 * classification of credential failures (fatal) versus an unreachable token endpoint (transient).
 * See docs/vertex.md.
 */
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GoogleGenAI, type GoogleGenAIOptions } from '@google/genai';
import { LiveFatalError, redact } from './errors.ts';

/** Where and as whom the agent runs on Vertex AI (the SDK's `vertexai` options). */
export interface VertexOptions {
  /** Google Cloud project id (`GOOGLE_CLOUD_PROJECT`). */
  project: string;
  /** Region, or `global` (`GOOGLE_CLOUD_LOCATION`; the SDK's default is `global`). */
  location?: string;
  /**
   * Credentials file (`GOOGLE_APPLICATION_CREDENTIALS`): a service-account key, or any other ADC file
   * (authorized_user, external_account, impersonated_service_account). Unset: the rest of ADC (gcloud's
   * application_default_credentials.json, then the metadata server on Google Cloud).
   */
  credentialsFile?: string;
  /** Alternative endpoint (the local emulator; `GOOGLE_VERTEX_BASE_URL`). */
  baseUrl?: string;
  /** API version of the socket URL; the SDK default (`v1beta1`) when unset. */
  apiVersion?: string;
}

/** Google's token endpoint, where google-auth-library 10.x posts every service-account grant. */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** The scope `@google/genai` requires on Vertex AI. */
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

const truthy = (v: string | undefined) => /^(1|true|yes|on)$/i.test(v?.trim() ?? '');
const str = (v: string | undefined) => (v?.trim() ? v.trim() : undefined);

/** Whether the environment asks for Vertex AI (`GOOGLE_GENAI_USE_ENTERPRISE`, else `GOOGLE_GENAI_USE_VERTEXAI`). */
export function vertexEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return truthy(env.GOOGLE_GENAI_USE_ENTERPRISE ?? env.GOOGLE_GENAI_USE_VERTEXAI);
}

/**
 * The Vertex options the `@google/genai` SDK would take from the environment, or `undefined` when the
 * agent runs on the Gemini API: `GOOGLE_GENAI_USE_VERTEXAI` (or `GOOGLE_GENAI_USE_ENTERPRISE`, which
 * wins when both are set, as in the SDK), `GOOGLE_CLOUD_PROJECT`, `GOOGLE_CLOUD_LOCATION`,
 * `GOOGLE_APPLICATION_CREDENTIALS`, `GOOGLE_VERTEX_BASE_URL`. Throws when Vertex is on without a project
 * (the SDK would fall back to an API key or fail at the first connect).
 */
export function vertexOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): VertexOptions | undefined {
  if (!vertexEnabled(env)) return undefined;
  const project = str(env.GOOGLE_CLOUD_PROJECT);
  if (!project) {
    throw new Error('GOOGLE_GENAI_USE_VERTEXAI is set but GOOGLE_CLOUD_PROJECT is not: name the project');
  }
  const location = str(env.GOOGLE_CLOUD_LOCATION);
  const credentialsFile = str(env.GOOGLE_APPLICATION_CREDENTIALS);
  const baseUrl = str(env.GOOGLE_VERTEX_BASE_URL);
  return {
    project,
    ...(location && { location }),
    ...(credentialsFile && { credentialsFile }),
    ...(baseUrl && { baseUrl }),
  };
}

/**
 * A Gemini client on Vertex AI. Rejects with a {@link LiveFatalError} (`auth`) when the credentials file
 * cannot be used; the message names the file and what is wrong, never its content.
 */
export async function createVertexClient(o: VertexOptions): Promise<GoogleGenAI> {
  const googleAuthOptions = await authOptions(o.credentialsFile);
  const httpOptions: NonNullable<GoogleGenAIOptions['httpOptions']> = {};
  if (o.baseUrl) httpOptions.baseUrl = o.baseUrl;
  if (o.apiVersion) httpOptions.apiVersion = o.apiVersion;
  return new GoogleGenAI({
    vertexai: true,
    project: o.project,
    location: o.location ?? 'global',
    httpOptions,
    ...(googleAuthOptions && { googleAuthOptions }),
  });
}

type AuthOptions = NonNullable<GoogleGenAIOptions['googleAuthOptions']>;

async function authOptions(file: string | undefined): Promise<AuthOptions | undefined> {
  if (!file) return undefined; // the rest of ADC, exactly as the SDK would
  const bad = (why: string) => new LiveFatalError('auth', `Vertex AI credentials file ${file}: ${why}`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw bad(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error: that could be key material.
    throw bad('is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('is not a JSON object');
  const key = json as Record<string, unknown>;
  if (key.type !== 'service_account') {
    if (typeof key.type !== 'string')
      throw bad('has no "type" (expected "service_account" or another ADC type)');
    // Another ADC type (authorized_user, external_account, …): google-auth-library reads it itself.
    return { keyFilename: file, scopes: [CLOUD_PLATFORM_SCOPE] };
  }
  if (typeof key.client_email !== 'string' || !key.client_email.includes('@')) {
    throw bad('"client_email" is missing or not an email address');
  }
  if (typeof key.private_key !== 'string') throw bad('"private_key" is missing');
  try {
    createPrivateKey(key.private_key);
  } catch {
    throw bad('"private_key" is not a PEM private key');
  }
  const tokenUri = typeof key.token_uri === 'string' ? key.token_uri : GOOGLE_TOKEN_URL;
  if (!/^https?:\/\//.test(tokenUri)) throw bad('"token_uri" is not an http(s) URL');
  return {
    credentials: key as AuthOptions['credentials'],
    scopes: [CLOUD_PLATFORM_SCOPE],
    ...(tokenUri !== GOOGLE_TOKEN_URL && {
      clientOptions: { transporterOptions: { fetchImplementation: tokenUriFetch(tokenUri) } },
    }),
  };
}

/**
 * google-auth-library 10.x signs the service account's assertion and posts it to the hard-coded
 * {@link GOOGLE_TOKEN_URL}, ignoring the key file's `token_uri` (Python's google-auth honours it). This
 * fetch sends that one request to `token_uri` instead; the library's own code (signing, grant, caching,
 * refresh) runs unchanged, and every other request goes where it was going.
 */
function tokenUriFetch(tokenUri: string): typeof fetch {
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    return fetch(url === GOOGLE_TOKEN_URL ? tokenUri : input, init);
  };
}

/**
 * What a failed connect says about the credentials: `fatal` when Google (or the token endpoint) refused
 * them — retrying the same credentials fails the same way — `transient` with a clearer message when the
 * token endpoint could not be reached, `undefined` when the failure is not about credentials.
 */
export function credentialFailure(
  err: unknown,
): { fatal: LiveFatalError } | { transient: Error } | undefined {
  if (!(err instanceof Error)) return undefined;
  // The WebSocket upgrade refused (the `ws` client's wording, passed on by the SDK): Vertex checks the
  // OAuth token before the socket exists.
  const upgrade = /Unexpected server response: (\d{3})/.exec(err.message);
  if (upgrade) {
    const status = Number(upgrade[1]);
    if (status === 401) {
      return {
        fatal: new LiveFatalError(
          'auth',
          'Vertex AI refused the access token (HTTP 401 on the WebSocket upgrade): it is missing, invalid, expired or revoked',
        ),
      };
    }
    if (status === 403) {
      return {
        fatal: new LiveFatalError(
          'auth',
          'Vertex AI denied access (HTTP 403): the principal needs roles/aiplatform.user on the project, and the Vertex AI API must be enabled',
        ),
      };
    }
    return undefined;
  }
  // google-auth-library's request for an access token (a GaxiosError: it carries the request's URL).
  const gaxios = err as Error & { config?: { url?: unknown }; response?: { status?: number } };
  const url = gaxios.config?.url;
  if (url === undefined) return undefined;
  const where = redact(String(url));
  const status = gaxios.response?.status;
  // The message is the endpoint's `error: error_description`, or the network error; never the assertion.
  const why = redact(err.message);
  if (status !== undefined && status >= 400 && status < 500) {
    return {
      fatal: new LiveFatalError(
        'auth',
        `the token endpoint ${where} refused the credentials (HTTP ${status}): ${why}`,
      ),
    };
  }
  return { transient: new Error(`could not get an access token from ${where}: ${why}`) };
}
