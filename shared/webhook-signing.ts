/**
 * LiveKit-style webhooks, sent the way livekit-server sends them: a JSON body, content type
 * `application/webhook+json`, and an `Authorization` header holding a JWT signed with an API key's secret
 * whose `sha256` claim is the base64 SHA-256 of the exact body. `livekit-server-sdk`'s `WebhookReceiver`
 * verifies both (signature, then digest) before it parses the body. One home for the dev server's room
 * webhooks (emulators/livekit/webhooks.ts) and the agent's conversation reports (agent/report/).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AccessToken } from 'livekit-server-sdk';

/** The content type livekit-server posts webhooks with. */
export const WEBHOOK_CONTENT_TYPE = 'application/webhook+json';

/** The `Authorization` value for `body`: a JWT of `apiKey` (issuer) with the body's `sha256` claim. */
export async function signWebhook(
  body: string,
  apiKey: string,
  apiSecret: string,
  ttl: string | number = '5m',
): Promise<string> {
  const token = new AccessToken(apiKey, apiSecret, { ttl });
  token.sha256 = createHash('sha256').update(body).digest('base64');
  return token.toJwt();
}

/** Why `url` cannot be a webhook endpoint, or `undefined` when it can (never echoes the URL). */
export function webhookUrlProblem(url: string): string | undefined {
  const u = URL.parse(url);
  if (!u || !/^https?:$/.test(u.protocol)) return 'is not an http(s) URL';
  // The Authorization header carries the signature, so there is no room for basic auth.
  if (u.username || u.password) return 'must not carry credentials';
  return undefined;
}

/** A webhook URL as logs show it: without credentials or query, which often carry a shared secret. */
export function shownUrl(url: string): string {
  const u = URL.parse(url);
  return u ? `${u.protocol}//${u.host}${u.pathname}` : '(not a URL)';
}

/** Options of {@link postSignedWebhook}. */
export interface SignedPostOptions {
  url: string;
  /** The exact body; its digest is signed. */
  body: string;
  /** The key whose secret signs the body; receivers verify with the same pair. */
  apiKey: string;
  apiSecret: string;
  /** Attempts after the first one, for connection errors, time-outs, 429 and 5xx except 501. */
  retries: number;
  /** Wait before the first retry, doubled for each next one up to `maxRetryWaitMs`. */
  retryWaitMs: number;
  /** Longest wait between two attempts. Default 30 000 ms. */
  maxRetryWaitMs?: number;
  /** One request's time limit: a hung endpoint must not hold the sender forever. */
  timeoutMs: number;
  /** Stops the delivery (the request in flight and any wait before a retry). */
  signal?: AbortSignal;
  /** `User-Agent` header. Default `LiveKit`, as livekit-server sends. */
  userAgent?: string;
}

/**
 * How a delivery ended: `delivered` (2xx, or any other answer below 400), `refused` (a 4xx other than
 * 429, or 501: the receiver's verdict, not worth repeating), `failed` (retries used up), `aborted`
 * (`signal`).
 */
export interface SignedPostResult {
  outcome: 'delivered' | 'refused' | 'failed' | 'aborted';
  attempts: number;
  /** The last failure: `HTTP <status>`, `timed out` or the network error's code (never its message). */
  failure?: string;
}

/**
 * POSTs a signed webhook, retrying with exponential back-off like livekit-server: connection errors,
 * time-outs, 429 and 5xx (except 501) are retried; other answers end the delivery.
 */
export async function postSignedWebhook(o: SignedPostOptions): Promise<SignedPostResult> {
  const authorization = await signWebhook(o.body, o.apiKey, o.apiSecret);
  const maxWait = o.maxRetryWaitMs ?? 30_000;
  let wait = o.retryWaitMs;
  let failure: string | undefined;
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) return { outcome: 'aborted', attempts: attempt - 1, ...(failure && { failure }) };
    try {
      const timeout = AbortSignal.timeout(o.timeoutMs);
      const res = await fetch(o.url, {
        method: 'POST',
        body: o.body,
        headers: {
          'Content-Type': WEBHOOK_CONTENT_TYPE,
          Authorization: authorization,
          'User-Agent': o.userAgent ?? 'LiveKit',
        },
        signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout,
      });
      await res.body?.cancel();
      if (res.status < 400) return { outcome: 'delivered', attempts: attempt };
      failure = `HTTP ${res.status}`;
      if (res.status !== 429 && (res.status < 500 || res.status === 501)) {
        return { outcome: 'refused', attempts: attempt, failure };
      }
    } catch (err) {
      // The error's code, not its message: messages can quote the URL, and with it a secret.
      const e = err as Error & { cause?: { code?: string; message?: string } };
      failure = e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.cause?.message ?? e.name);
    }
    if (o.signal?.aborted) return { outcome: 'aborted', attempts: attempt, failure };
    if (attempt > o.retries) return { outcome: 'failed', attempts: attempt, failure };
    await sleep(wait, undefined, { ...(o.signal && { signal: o.signal }), ref: false }).catch(() => {});
    wait = Math.min(wait * 2, maxWait);
  }
}
