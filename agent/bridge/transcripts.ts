import { randomUUID } from 'node:crypto';
import type { LocalParticipant, TextStreamWriter } from '@livekit/rtc-node';
import type { Logger } from '../log.ts';

/** Text-stream topic LiveKit frontends read transcriptions from. */
export const TOPIC_TRANSCRIPTION = 'lk.transcription';
export const ATTR_SEGMENT_ID = 'lk.segment_id';
export const ATTR_TRANSCRIBED_TRACK_ID = 'lk.transcribed_track_id';
export const ATTR_TRANSCRIPTION_FINAL = 'lk.transcription_final';
/**
 * `'true'` on the final stream of an agent segment whose reply was cut (barge-in, or a Live
 * connection lost mid-reply): its text is what was said before the cut. LiveKit defines no attribute
 * for this; clients that do not know it just show the text.
 */
export const ATTR_INTERRUPTED = 'gemini.interrupted';

/** Who a transcript segment belongs to. */
export interface TranscriptSpeaker {
  /** Sender identity on the stream: the user for their speech, the agent for its own. */
  identity: string;
  /** The audio track transcribed. */
  trackSid: string | undefined;
}

/**
 * One transcription segment as LiveKit agents publish it: a delta stream (`lk.transcription_final`
 * false) that grows while the speech goes on, then one stream with the whole text and `final` true,
 * both with the same `lk.segment_id`. Writes are serialised so deltas keep their order.
 */
export class TranscriptSegment {
  readonly id = `SG_${randomUUID().slice(0, 12)}`;
  #text = '';
  #writer: Promise<TextStreamWriter | undefined> | undefined;
  #chain: Promise<void> = Promise.resolve();
  #done = false;
  readonly #lp: LocalParticipant;
  readonly #speaker: TranscriptSpeaker;
  readonly #destinations: string[] | undefined;
  readonly #log: Logger;

  constructor(lp: LocalParticipant, speaker: TranscriptSpeaker, log: Logger, destinations?: string[]) {
    this.#lp = lp;
    this.#speaker = speaker;
    this.#destinations = destinations;
    this.#log = log;
  }

  get text(): string {
    return this.#text;
  }

  get speaker(): TranscriptSpeaker {
    return this.#speaker;
  }

  push(delta: string): void {
    if (this.#done || !delta) return;
    this.#text += delta;
    this.#writer ??= this.#open(false).catch((err) => {
      this.#log.warn({ err: String(err) }, 'transcript: cannot open stream');
      return undefined;
    });
    const writer = this.#writer;
    this.#chain = this.#chain.then(async () => {
      const w = await writer;
      await w?.write(delta).catch(() => {});
    });
  }

  /** Closes the delta stream and publishes the final text (marked when `interrupted`). Resolves when sent. */
  finish(o: { interrupted?: boolean } = {}): Promise<void> {
    if (this.#done) return this.#chain;
    this.#done = true;
    const writer = this.#writer;
    const text = this.#text;
    this.#chain = this.#chain.then(async () => {
      const w = await writer;
      await w?.close().catch(() => {});
      if (!text.trim()) return;
      try {
        const f = await this.#open(true, o.interrupted);
        await f.write(text);
        await f.close();
      } catch (err) {
        this.#log.warn({ err: String(err) }, 'transcript: cannot publish final segment');
      }
    });
    return this.#chain;
  }

  #open(final: boolean, interrupted = false): Promise<TextStreamWriter> {
    const attributes: Record<string, string> = {
      [ATTR_SEGMENT_ID]: this.id,
      [ATTR_TRANSCRIPTION_FINAL]: String(final),
    };
    if (interrupted) attributes[ATTR_INTERRUPTED] = 'true';
    if (this.#speaker.trackSid) attributes[ATTR_TRANSCRIBED_TRACK_ID] = this.#speaker.trackSid;
    return this.#lp.streamText({
      topic: TOPIC_TRANSCRIPTION,
      attributes,
      senderIdentity: this.#speaker.identity,
      ...(this.#destinations && { destinationIdentities: this.#destinations }),
    });
  }
}
