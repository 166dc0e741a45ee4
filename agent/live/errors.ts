/** Why a Live session cannot continue; retrying the same setup would fail the same way. */
export type LiveFatalKind = 'auth' | 'model' | 'quota' | 'invalid' | 'unavailable';

/** A failure the Live session layer will not retry. Carries the close code and a redacted reason. */
export class LiveFatalError extends Error {
  override name = 'LiveFatalError';
  readonly kind: LiveFatalKind;
  readonly code: number | undefined;
  constructor(kind: LiveFatalKind, message: string, code?: number) {
    super(message);
    this.kind = kind;
    this.code = code;
  }
}

/** Close codes the Live API uses for errors (it has no error message type). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_INVALID_ARGUMENT = 1007;
export const CLOSE_POLICY = 1008;
/** A client message larger than the service takes. */
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_INTERNAL = 1011;

/** What to do about a socket that ended: reconnect, or give up with a typed error. */
export type CloseVerdict = { retry: true } | { retry: false; error: LiveFatalError };

/** Keys can appear in reasons the server echoes back (`key=…`); never let them reach a log line. */
export function redact(text: string): string {
  return text
    .replace(/(key|access_token)=[^&\s"']+/gi, '$1=[redacted]')
    .replace(/AIza[0-9A-Za-z_-]{10,}/g, '[redacted]');
}

/**
 * Classifies a close. 1007 is a bad request or key, 1008 an unknown model (or handle), quota shows up as
 * a reason; 1006/1011 and anything unknown are transient and worth a reconnect.
 */
export function classifyClose(code: number | undefined, reason: string): CloseVerdict {
  const why = redact(reason || 'no reason given');
  if (/quota|resource[_ ]exhausted|rate limit/i.test(reason)) {
    return {
      retry: false,
      error: new LiveFatalError('quota', `Gemini quota exhausted (code ${code}): ${why}`, code),
    };
  }
  if (code === CLOSE_INVALID_ARGUMENT) {
    const auth = /api key|apikey|permission|unauthenticated|credential|token/i.test(reason);
    return {
      retry: false,
      error: new LiveFatalError(
        auth ? 'auth' : 'invalid',
        auth
          ? `Gemini rejected the credentials (code 1007): ${why}`
          : `Gemini rejected the setup (code 1007): ${why}`,
        code,
      ),
    };
  }
  if (code === CLOSE_POLICY) {
    return {
      retry: false,
      error: new LiveFatalError('model', `Gemini refused the session (code 1008): ${why}`, code),
    };
  }
  return { retry: true };
}

/**
 * Whether a close during a resuming setup may be the service refusing the handle. Google documents no
 * code for it; what it has been seen to send: 1007 "invalid argument" (3.8, after the session deadline),
 * 1008 "not found", 1011 (an ephemeral token's resumption, a session still open elsewhere). See
 * docs/recovery.md. A setup that fails the same way without a handle is fatal as usual.
 */
export function handleRefusal(code: number | undefined): boolean {
  return code === CLOSE_INVALID_ARGUMENT || code === CLOSE_POLICY || code === CLOSE_INTERNAL;
}
