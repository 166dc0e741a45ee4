import type { GoogleGenAI } from '@google/genai';
import { CLOSE_TOO_BIG, classifyClose, LiveFatalError, redact } from './errors.ts';
import { createClient, parseConnectError } from './sdk-adapter.ts';
import type { LiveSessionOptions } from './types.ts';
import { createVertexClient, credentialFailure } from './vertex.ts';

/** The SDK client of a session's backend: Vertex AI (credentials read on first use) or the Gemini API. */
export function liveClient(
  o: Pick<LiveSessionOptions, 'vertex' | 'apiKey' | 'baseUrl' | 'apiVersion'>,
): Promise<GoogleGenAI> {
  // `apiVersion` is the Gemini API's (v1alpha for some settings); Vertex has its own versions.
  return o.vertex
    ? createVertexClient(o.vertex)
    : Promise.resolve(createClient({ apiKey: o.apiKey ?? '', baseUrl: o.baseUrl, apiVersion: o.apiVersion }));
}

/**
 * What a failed `live.connect` means for the session: a {@link LiveFatalError} when retrying cannot help
 * (credentials refused, a setup the service refuses), else the error as is (retried like a drop).
 */
export function connectFailure(err: unknown, o: { vertex: boolean }): unknown {
  const credentials = o.vertex ? credentialFailure(err) : undefined;
  if (credentials) return 'fatal' in credentials ? credentials.fatal : credentials.transient;
  const { code, reason } = parseConnectError(err);
  // Before setup completed, the only message sent was the setup itself.
  if (code === CLOSE_TOO_BIG)
    return new LiveFatalError(
      'invalid',
      `Gemini refused the setup as too large (code 1009): ${redact(reason)}`,
      code,
    );
  if (code !== undefined) {
    const verdict = classifyClose(code, reason);
    if (!verdict.retry) return verdict.error;
  }
  return err;
}
