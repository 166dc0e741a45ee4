/**
 * Energy voice-activity detector standing in for the service's automatic activity detection. It sees
 * audio in 10 ms frames at the input's own rate and maps the documented knobs onto energy thresholds:
 *
 * - `startOfSpeechSensitivity` HIGH (default) commits speech above -45 dBFS, LOW above -32 dBFS.
 * - `prefixPaddingMs`: voiced audio needed before start-of-speech is committed
 *   (default 20 ms on HIGH, 100 ms on LOW).
 * - `endOfSpeechSensitivity` HIGH (default) ends speech after 500 ms below the end threshold, LOW after
 *   1200 ms; `silenceDurationMs` overrides either. The end threshold sits 6 dB under the start one
 *   (hysteresis), so syllable dips do not split an utterance.
 */
import { rmsDbfs } from '../../shared/audio/analyze.ts';
import { concatPcm16 } from '../../shared/audio/pcm.ts';

export interface VadConfig {
  startOfSpeechSensitivity?: string;
  endOfSpeechSensitivity?: string;
  prefixPaddingMs?: number;
  silenceDurationMs?: number;
}

export interface VadEvents {
  /** Speech committed. `onsetOffsetMs`: how far back (in the audio) speech actually began. */
  onSpeechStart(onsetOffsetMs: number): void;
  /**
   * Silence long enough: the utterance is over. `utterance` holds its audio at the input rate, from
   * onset to the last voiced frame (capped at `maxUtteranceMs`); `durationMs` is its full length.
   */
  onSpeechEnd(utterance: Int16Array, sampleRate: number, durationMs: number): void;
}

export interface VadThresholds {
  startDbfs: number;
  endDbfs: number;
  prefixPaddingMs: number;
  silenceDurationMs: number;
}

export function vadThresholds(config: VadConfig = {}): VadThresholds {
  const lowStart = config.startOfSpeechSensitivity === 'START_SENSITIVITY_LOW';
  const lowEnd = config.endOfSpeechSensitivity === 'END_SENSITIVITY_LOW';
  const startDbfs = lowStart ? -32 : -45;
  return {
    startDbfs,
    endDbfs: startDbfs - 6,
    prefixPaddingMs: config.prefixPaddingMs ?? (lowStart ? 100 : 20),
    silenceDurationMs: config.silenceDurationMs ?? (lowEnd ? 1200 : 500),
  };
}

export class EnergyVad {
  readonly thresholds: VadThresholds;
  #events: VadEvents;
  #maxUtteranceMs: number;
  /** Recent frames before speech is committed (pre-roll), then the utterance's frames. */
  #recent: Int16Array[] = [];
  #frames: Int16Array[] = [];
  #utteranceMs = 0;
  #speaking = false;
  #voicedMs = 0;
  #silentMs = 0;
  #rate = 0;
  #pending: Int16Array = new Int16Array(0);

  constructor(config: VadConfig, events: VadEvents, maxUtteranceMs = 60_000) {
    this.thresholds = vadThresholds(config);
    this.#events = events;
    this.#maxUtteranceMs = maxUtteranceMs;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** Feeds samples; fires events synchronously as frames complete. */
  push(samples: Int16Array, sampleRate: number): void {
    if (sampleRate !== this.#rate) {
      this.#rate = sampleRate;
      this.#pending = new Int16Array(0);
    }
    const frame = Math.max(1, Math.round(sampleRate / 100));
    const data = this.#pending.length ? concatPcm16([this.#pending, samples]) : samples;
    let at = 0;
    for (; at + frame <= data.length; at += frame) this.#frame(data.subarray(at, at + frame), 10);
    this.#pending = data.slice(at);
  }

  /** Ends a running utterance now (`audioStreamEnd`, activity handling changes). */
  flush(): void {
    if (this.#speaking) this.#end();
    this.#voicedMs = 0;
    this.#pending = new Int16Array(0);
  }

  reset(): void {
    this.#speaking = false;
    this.#recent = [];
    this.#frames = [];
    this.#utteranceMs = 0;
    this.#voicedMs = 0;
    this.#silentMs = 0;
    this.#pending = new Int16Array(0);
  }

  #frame(frame: Int16Array, ms: number): void {
    const t = this.thresholds;
    const db = rmsDbfs(frame);
    if (!this.#speaking) {
      if (db > t.startDbfs) {
        this.#voicedMs += ms;
        this.#recent.push(frame.slice());
        if (this.#voicedMs >= Math.max(ms, t.prefixPaddingMs)) {
          this.#speaking = true;
          this.#silentMs = 0;
          const onset = this.#voicedMs - ms;
          this.#frames = this.#recent;
          this.#utteranceMs = this.#voicedMs;
          this.#recent = [];
          this.#voicedMs = 0;
          this.#events.onSpeechStart(onset);
        }
      } else {
        this.#voicedMs = 0;
        this.#recent = [];
      }
      return;
    }
    this.#utteranceMs += ms;
    if (this.#utteranceMs <= this.#maxUtteranceMs) this.#frames.push(frame.slice());
    if (db > t.endDbfs) {
      this.#silentMs = 0;
    } else {
      this.#silentMs += ms;
      if (this.#silentMs >= t.silenceDurationMs) this.#end();
    }
  }

  #end(): void {
    // Trailing silence is not part of what was said.
    const trailing = Math.floor(this.#silentMs / 10);
    const kept = this.#frames.slice(0, Math.max(1, this.#frames.length - trailing));
    const durationMs = Math.max(10, this.#utteranceMs - trailing * 10);
    this.#speaking = false;
    this.#silentMs = 0;
    this.#frames = [];
    this.#utteranceMs = 0;
    this.#events.onSpeechEnd(concatPcm16(kept), this.#rate, durationMs);
  }
}
