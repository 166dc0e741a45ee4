import { randomUUID } from 'node:crypto';
import { postSignedWebhook, type SignedPostResult, shownUrl } from '../../shared/webhook-signing.ts';
import type { AgentEnv } from '../config.ts';
import type { Logger } from '../log.ts';
import type { ConversationReport } from './types.ts';

/** The `event` of a report's webhook body. */
export const REPORT_EVENT = 'conversation_report';

/** Where and how a job POSTs its report. */
export interface ReportWebhookOptions {
  /** The endpoint (`AGENT_REPORT_WEBHOOK_URL`). Logged without its query or credentials. */
  url: string;
  /** The LiveKit API key whose secret signs the body (the worker's); receivers verify with the same pair. */
  apiKey: string;
  apiSecret: string;
  /** Longest the delivery may take, retries included (`AGENT_REPORT_TIMEOUT_S`). Default 5000 ms. */
  deadlineMs?: number;
  /** Attempts after the first for connection errors, time-outs, 429 and 5xx (except 501). Default 4. */
  retries?: number;
  /** Wait before the first retry, doubled for each next one. Default 250 ms. */
  retryWaitMs?: number;
}

/** The worker's report webhook (`AGENT_REPORT_WEBHOOK_URL`), signed with its LiveKit key; none when unset. */
export function reportWebhook(env: Pick<AgentEnv, 'ops' | 'worker'>): ReportWebhookOptions | undefined {
  const { reportWebhookUrl: url, reportTimeoutMs: deadlineMs } = env.ops;
  const { livekitApiKey: apiKey, livekitApiSecret: apiSecret } = env.worker;
  return url ? { url, apiKey, apiSecret, deadlineMs } : undefined;
}

/**
 * The body: a LiveKit webhook envelope (`event`, `id`, `createdAt`, `room`) around the report, so
 * `WebhookReceiver.receive` verifies it like any LiveKit webhook (signature and body digest) and
 * parses the envelope, ignoring the `report` field it does not know; the backend then reads `report`
 * from the body it verified. `id` is the same on every attempt, so retries can be recognised.
 */
export function reportBody(report: ConversationReport, id = `RP_${randomUUID().slice(0, 12)}`): string {
  return JSON.stringify({
    event: REPORT_EVENT,
    id,
    createdAt: String(Math.floor(Date.parse(report.endedAt) / 1000)),
    room: { sid: report.room.sid, name: report.room.name },
    report,
  });
}

/**
 * POSTs `report`, signed the way LiveKit signs its webhooks, with back-off, never for longer than the
 * deadline. Never throws; logs the outcome (the URL without query, never the token).
 */
export async function sendReport(
  report: ConversationReport,
  o: ReportWebhookOptions,
  logger: Logger,
): Promise<SignedPostResult> {
  const deadlineMs = o.deadlineMs ?? 5000;
  const body = reportBody(report);
  const url = shownUrl(o.url);
  let result: SignedPostResult;
  try {
    result = await postSignedWebhook({
      url: o.url,
      body,
      apiKey: o.apiKey,
      apiSecret: o.apiSecret,
      retries: o.retries ?? 4,
      retryWaitMs: o.retryWaitMs ?? 250,
      // A hung attempt leaves time for another.
      timeoutMs: Math.max(deadlineMs / 2, 250),
      signal: AbortSignal.timeout(deadlineMs),
      userAgent: 'gemini-livekit-agent',
    });
  } catch (err) {
    // Signing failed (a key pair the SDK refuses): nothing was sent.
    logger.warn({ url, err: (err as Error).name }, 'report: webhook not sent');
    return { outcome: 'failed', attempts: 0, failure: (err as Error).name };
  }
  const fields = { url, attempts: result.attempts, bytes: Buffer.byteLength(body) };
  if (result.outcome === 'delivered') logger.info(fields, 'report: webhook delivered');
  else if (result.outcome === 'aborted')
    logger.warn({ ...fields, deadlineMs, failure: result.failure }, 'report: webhook not delivered in time');
  else logger.warn({ ...fields, failure: result.failure }, `report: webhook ${result.outcome}`);
  return result;
}
