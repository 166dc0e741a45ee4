import type { FunctionResponse } from '@google/genai';
import { pcm16ToBase64 } from '../../shared/audio/pcm.ts';

/**
 * One input the session accepted, kept in this form until a connection takes it (and, with resumption,
 * until a handle covers it): enough to send it again on another connection. `bytes` is the size of its
 * client message on the wire.
 */
export type LiveInput = (
  | { kind: 'audio'; data: string; mimeType: string; samples: number; ms: number }
  | { kind: 'video'; data: string; mimeType: string }
  | { kind: 'text'; text: string }
  | { kind: 'content'; text: string; turnComplete: boolean }
  | { kind: 'history'; turns: HistoryTurn[]; turnComplete: boolean; asks: boolean }
  | { kind: 'activityStart' }
  | { kind: 'activityEnd' }
  | { kind: 'toolResponse'; responses: FunctionResponse[] }
) & { bytes: number };

/** One earlier turn a session is told (`clientContent` turns with roles). */
export interface HistoryTurn {
  role: 'user' | 'model';
  text: string;
  /** A model turn that did not finish (barge-in, lost connection, crash): the model is told so. */
  cut?: boolean;
}

/** How a cut model turn ends in the text the model is given. */
export const CUT_MARK = '[cut off]';

/** Which send call an input came from. */
export type LiveInputKind = LiveInput['kind'];

/**
 * Largest client message a session sends by default: 15 MiB of JSON. The Live service closes the socket
 * with 1009 on a larger frame (a 17 MB chat message did in production; the emulator models the limit as
 * 16 MiB); the margin covers what the SDK's converters add to the frame measured here.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 15 * 1024 * 1024;

/** Bytes of the UTF-8 JSON frame; base64 `data` is ASCII and needs no escaping, so it is counted, not copied. */
function frameBytes(message: unknown, data = ''): number {
  return Buffer.byteLength(JSON.stringify(message)) + data.length;
}

export function audioInput(pcm: Int16Array, sampleRate: number): LiveInput {
  const data = pcm16ToBase64(pcm);
  const mimeType = `audio/pcm;rate=${sampleRate}`;
  const bytes = frameBytes({ realtimeInput: { audio: { data: '', mimeType } } }, data);
  return { kind: 'audio', data, mimeType, samples: pcm.length, ms: (pcm.length * 1000) / sampleRate, bytes };
}

export function videoInput(image: Uint8Array, mimeType: string): LiveInput {
  const data = Buffer.from(image.buffer, image.byteOffset, image.byteLength).toString('base64');
  return {
    kind: 'video',
    data,
    mimeType,
    bytes: frameBytes({ realtimeInput: { video: { data: '', mimeType } } }, data),
  };
}

export function textInput(text: string): LiveInput {
  return { kind: 'text', text, bytes: frameBytes({ realtimeInput: { text } }) };
}

export function contentInput(text: string, turnComplete: boolean): LiveInput {
  const bytes = frameBytes({ clientContent: { turns: [{ role: 'user', parts: [{ text }] }], turnComplete } });
  return { kind: 'content', text, turnComplete, bytes };
}

/**
 * Earlier turns as context, one `clientContent` with their roles, taken in without an answer. Without
 * `turnComplete` on models that take history any time (2.x: with it they would answer); with it as the
 * initial history a setup declared (3.x `historyConfig`: it ends the history, which starts no reply).
 * `asks`: the model is expected to answer it (a resumed session told what it missed, catch-up.ts).
 * A cut model turn ends with {@link CUT_MARK}.
 */
export function historyInput(turns: HistoryTurn[], turnComplete: boolean, asks = false): LiveInput {
  const said = turns.map((t) => ({ role: t.role, text: t.cut ? `${t.text} ${CUT_MARK}` : t.text }));
  const content = said.map((t) => ({ role: t.role, parts: [{ text: t.text }] }));
  return {
    kind: 'history',
    turns: said,
    turnComplete,
    asks,
    bytes: frameBytes({ clientContent: { turns: content, turnComplete } }),
  };
}

export function activityInput(kind: 'activityStart' | 'activityEnd'): LiveInput {
  return { kind, bytes: frameBytes({ realtimeInput: { [kind]: {} } }) };
}

export function toolResponseInput(responses: FunctionResponse[]): LiveInput {
  return {
    kind: 'toolResponse',
    responses,
    bytes: frameBytes({ toolResponse: { functionResponses: responses } }),
  };
}

/**
 * Input after which the model is expected to reply. A tool response whose results are all `SILENT`
 * only adds them to the context.
 */
export function asksForReply(msg: LiveInput): boolean {
  return (
    msg.kind === 'text' ||
    msg.kind === 'activityEnd' ||
    (msg.kind === 'toolResponse' && msg.responses.some((r) => r.scheduling !== 'SILENT')) ||
    (msg.kind === 'content' && msg.turnComplete) ||
    (msg.kind === 'history' && msg.asks)
  );
}

/** Why an input never reached (or will not again reach) the model. */
export interface LiveInputRefusal {
  /** Which send call the input came from. */
  kind: LiveInputKind;
  /** Size of its client message, bytes of JSON. */
  bytes: number;
  /** The bound it broke, bytes. */
  limit: number;
  /**
   * `client`: larger than `maxMessageBytes` (or than a size the service refused before), never sent.
   * `service`: the service closed the connection with 1009 (message too big) on it; it is not sent again
   * and the session goes on with the rest of the input on a new connection.
   */
  by: 'client' | 'service';
  /** Readable reason for logs and for the participant; holds no content of the input. */
  message: string;
}
