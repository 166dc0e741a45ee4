/**
 * PCM16 audio with its format, as it travels from a microphone track through the input policy (talker
 * tracking, mixing) to the Live session: the rate is never assumed on the way. An rtc-node `AudioFrame`
 * is one.
 */
export interface PcmFrame {
  /** Interleaved samples. */
  readonly data: Int16Array;
  readonly sampleRate: number;
  readonly channels: number;
}

/** Length of a frame, ms. */
export function frameMs(frame: PcmFrame): number {
  return (frame.data.length * 1000) / (frame.channels * frame.sampleRate);
}

/** Whether two frames can be summed sample by sample. */
export function sameFormat(a: PcmFrame, b: PcmFrame): boolean {
  return a.sampleRate === b.sampleRate && a.channels === b.channels;
}
