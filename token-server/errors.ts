import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Why a request was refused. The same word is the `error` field of the JSON body and the `reason`
 * label of the rejection counter, so a client report and a dashboard line up.
 */
export type RejectionReason =
  | 'invalid_request'
  | 'malformed_json'
  | 'unsupported_media_type'
  | 'body_too_large'
  | 'unauthorized'
  | 'origin_not_allowed'
  | 'host_not_allowed'
  | 'identity_not_allowed'
  | 'room_not_allowed'
  | 'agent_not_allowed'
  | 'agent_metadata_not_allowed'
  | 'rate_limited'
  | 'method_not_allowed'
  | 'not_configured'
  | 'ephemeral_tokens_unavailable'
  | 'upstream_error'
  | 'internal_error';

/** One problem with one field of a request body. */
export interface FieldIssue {
  /** Dotted path in the request body (`room_config.agents.0.agent_name`); empty for the body itself. */
  field: string;
  message: string;
}

/** JSON body of every error response. */
export interface ErrorBody {
  error: RejectionReason;
  /** Human-readable summary; never contains a secret or a token. */
  message: string;
  /** Per-field problems of a 400 `invalid_request`. */
  issues?: FieldIssue[];
}

/** A refusal with its status; thrown anywhere in a handler, rendered by the app's error handler. */
export class HttpError extends Error {
  readonly status: ContentfulStatusCode;
  readonly reason: RejectionReason;
  readonly issues: FieldIssue[] | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    reason: RejectionReason,
    message: string,
    extra: { issues?: FieldIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.reason = reason;
    this.issues = extra.issues;
    this.headers = extra.headers ?? {};
  }
}

export function errorResponse(c: Context, err: HttpError): Response {
  const body: ErrorBody = { error: err.reason, message: err.message };
  if (err.issues) body.issues = err.issues;
  return c.json(body, err.status, { 'Cache-Control': 'no-store', ...err.headers });
}
