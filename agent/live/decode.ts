import type { EventEmitter } from 'node:events';
import type { FunctionCall, LiveServerMessage } from '@google/genai';
import { base64ToPcm16, parsePcmMimeType } from '../../shared/audio/pcm.ts';
import { LIVE_OUTPUT_RATE } from '../../shared/audio/rates.ts';
import type { LiveSessionEvents } from './types.ts';
import { decodeUsage, type LiveUsage } from './usage.ts';

/** One thing a server message says, typed; a message can say several, in {@link decodeServerMessage}'s order. */
export type LiveServerEvent =
  | { type: 'audio'; pcm: Int16Array; sampleRate: number }
  | { type: 'text'; text: string }
  | { type: 'inputTranscription'; text: string }
  | { type: 'outputTranscription'; text: string }
  | { type: 'interrupted' }
  | { type: 'generationComplete' }
  | { type: 'turnComplete' }
  | { type: 'toolCall'; calls: FunctionCall[] }
  | { type: 'toolCallCancellation'; ids: string[] }
  | { type: 'usage'; usage: LiveUsage }
  | {
      type: 'resumption';
      /** Whether the session could be resumed right now (false mid-reply or during a tool call). */
      resumable: boolean;
      /** A new handle, only when `resumable`. */
      handle: string | undefined;
      /** The last client message the handle covers; unset means all of them. */
      lastConsumedIndex: number | undefined;
    }
  | { type: 'goAway'; timeLeftMs: number | undefined };

/** `"50s"`, `"0.5s"` (protobuf Duration JSON) → ms. */
export function parseDuration(d: string | undefined): number | undefined {
  if (!d) return undefined;
  const m = /^([\d.]+)s$/.exec(d);
  return m ? Number(m[1]) * 1000 : undefined;
}

/**
 * Decodes a server message: model output (audio as PCM16, text parts without thoughts), transcripts,
 * usage, turn signals, then tool calls, the resumption update and goAway, in that order.
 */
export function decodeServerMessage(m: LiveServerMessage): LiveServerEvent[] {
  const out: LiveServerEvent[] = [];
  const sc = m.serverContent;
  if (sc) {
    for (const part of sc.modelTurn?.parts ?? []) {
      if (part.inlineData?.data && part.inlineData.mimeType?.startsWith('audio/')) {
        const sampleRate = parsePcmMimeType(part.inlineData.mimeType, LIVE_OUTPUT_RATE) ?? LIVE_OUTPUT_RATE;
        out.push({ type: 'audio', pcm: base64ToPcm16(part.inlineData.data), sampleRate });
      } else if (part.text && !part.thought) {
        out.push({ type: 'text', text: part.text });
      }
    }
    if (sc.inputTranscription?.text)
      out.push({ type: 'inputTranscription', text: sc.inputTranscription.text });
    if (sc.outputTranscription?.text)
      out.push({ type: 'outputTranscription', text: sc.outputTranscription.text });
    // Usage before the turn signals: it is the turn's, and observers close the turn on them.
    if (m.usageMetadata) out.push({ type: 'usage', usage: decodeUsage(m.usageMetadata) });
    if (sc.interrupted) out.push({ type: 'interrupted' });
    if (sc.generationComplete) out.push({ type: 'generationComplete' });
    if (sc.turnComplete) out.push({ type: 'turnComplete' });
  }
  if (!sc && m.usageMetadata) out.push({ type: 'usage', usage: decodeUsage(m.usageMetadata) });
  if (m.toolCall?.functionCalls?.length) out.push({ type: 'toolCall', calls: m.toolCall.functionCalls });
  if (m.toolCallCancellation?.ids?.length)
    out.push({ type: 'toolCallCancellation', ids: m.toolCallCancellation.ids });
  const upd = m.sessionResumptionUpdate;
  if (upd) {
    const resumable = upd.resumable === true;
    const last = upd.lastConsumedClientMessageIndex;
    out.push({
      type: 'resumption',
      resumable,
      handle: resumable && upd.newHandle ? upd.newHandle : undefined,
      lastConsumedIndex: last !== undefined && last !== null && last !== '' ? Number(last) : undefined,
    });
  }
  if (m.goAway)
    out.push({ type: 'goAway', timeLeftMs: parseDuration(m.goAway.timeLeft as string | undefined) });
  return out;
}

/** The events that reach a session's listeners as they are (resumption and goAway it handles itself). */
export type ForwardedEvent = Exclude<LiveServerEvent, { type: 'resumption' } | { type: 'goAway' }>;

/** Emits `ev` as the Live session's event of the same name (see `LiveSessionEvents`). */
export function emitEvent(target: EventEmitter<LiveSessionEvents>, ev: ForwardedEvent): void {
  switch (ev.type) {
    case 'audio':
      target.emit('audio', ev.pcm, ev.sampleRate);
      break;
    case 'toolCall':
      target.emit('toolCall', ev.calls);
      break;
    case 'toolCallCancellation':
      target.emit('toolCallCancellation', ev.ids);
      break;
    case 'usage':
      target.emit('usage', ev.usage);
      break;
    case 'text':
    case 'inputTranscription':
    case 'outputTranscription':
      target.emit(ev.type, ev.text);
      break;
    default:
      target.emit(ev.type);
  }
}
