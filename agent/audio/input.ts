import { AudioStream, type Track } from '@livekit/rtc-node';
import { LIVE_INPUT_RATE } from '../../shared/audio/rates.ts';
import type { PcmFrame } from './frame.ts';

/** Options of {@link startAudioInput}. */
export interface AudioInputOptions {
  /** Rate the frames are resampled to (default the Live API's input rate, 16 kHz). */
  sampleRate?: number;
  /** Frame length handed on, ms (default 20; the Live API is happy with 20–40). */
  frameSizeMs?: number;
}

/** A running track reader. */
export interface AudioInput {
  /** Resolves when the track ended or {@link AudioInput.aclose} was called. */
  readonly done: Promise<void>;
  aclose(): Promise<void>;
}

/**
 * Reads a remote audio track as mono PCM16 at the model's rate in small frames. The FFI's AudioStream
 * does the 48 kHz (or whatever the track carries) → 16 kHz conversion in one resampling step, and hands
 * out frames as they are decoded — nothing is accumulated here. Each frame says its own rate and
 * channels.
 */
export function startAudioInput(
  track: Track,
  onFrame: (frame: PcmFrame) => void,
  options: AudioInputOptions = {},
): AudioInput {
  const sampleRate = options.sampleRate ?? LIVE_INPUT_RATE;
  const stream = new AudioStream(track, {
    sampleRate,
    numChannels: 1,
    frameSizeMs: options.frameSizeMs ?? 20,
  });
  const reader = stream.getReader();
  let closed = false;
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || closed) break;
        if (value.samplesPerChannel > 0) onFrame(value);
      }
    } catch {
      // A stream torn down under us (track unsubscribed, room gone) just ends.
    } finally {
      reader.releaseLock();
    }
  })();
  return {
    done,
    async aclose() {
      if (closed) return done;
      closed = true;
      // Cancelling a native stream can stall on a dying room; do not hold shutdown on it for long.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((r) => {
        timer = setTimeout(r, 2000);
      });
      await Promise.race([
        reader
          .cancel()
          .catch(() => {})
          .then(() => done),
        bound,
      ]);
      clearTimeout(timer);
    },
  };
}
