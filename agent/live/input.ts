import type { FunctionResponse } from '@google/genai';

/**
 * One input the session accepted, kept in this form until a connection takes it (and, with resumption,
 * until a handle covers it): enough to send it again on another connection.
 */
export type LiveInput =
  | { kind: 'audio'; data: string; mimeType: string; samples: number; ms: number }
  | { kind: 'video'; data: string; mimeType: string }
  | { kind: 'text'; text: string }
  | { kind: 'content'; text: string; turnComplete: boolean }
  | { kind: 'activityStart' }
  | { kind: 'activityEnd' }
  | { kind: 'toolResponse'; responses: FunctionResponse[] };

/** Which send call an input came from. */
export type LiveInputKind = LiveInput['kind'];

/** Input after which the model is expected to reply. */
export function asksForReply(msg: LiveInput): boolean {
  return (
    msg.kind === 'text' ||
    msg.kind === 'activityEnd' ||
    msg.kind === 'toolResponse' ||
    (msg.kind === 'content' && msg.turnComplete)
  );
}
