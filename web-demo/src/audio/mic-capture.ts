import { Emitter } from '../emitter.ts';
import workletUrl from './capture-worklet.ts?worker&url';

export interface MicCaptureOptions {
  /** Context the capture graph lives in (its rate is the device's; the worklet resamples). */
  context: AudioContext;
  /** Microphone stream; requested with speech-friendly constraints when absent. */
  stream?: MediaStream;
  /** Output sample rate in Hz. Default 16000 (the Live API's native input rate). */
  targetRate?: number;
  /** Chunk length in ms. Default 50. */
  chunkMs?: number;
}

/** The microphone as a stream of 16-bit mono PCM chunks at {@link MicCaptureOptions.targetRate}. */
export class MicCapture extends Emitter<{ chunk: [Int16Array] }> {
  readonly stream: MediaStream;
  readonly source: MediaStreamAudioSourceNode;
  readonly targetRate: number;
  #node: AudioWorkletNode;

  private constructor(
    stream: MediaStream,
    source: MediaStreamAudioSourceNode,
    node: AudioWorkletNode,
    rate: number,
  ) {
    super();
    this.stream = stream;
    this.source = source;
    this.#node = node;
    this.targetRate = rate;
    node.port.onmessage = (ev: MessageEvent<Int16Array>) => this.emit('chunk', ev.data);
  }

  static async start(o: MicCaptureOptions): Promise<MicCapture> {
    const targetRate = o.targetRate ?? 16_000;
    const stream =
      o.stream ??
      (await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      }));
    try {
      await o.context.audioWorklet.addModule(workletUrl);
      const source = o.context.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(o.context, 'pcm-capture', {
        numberOfInputs: 1,
        numberOfOutputs: 0,
        channelCount: 1,
        channelCountMode: 'explicit',
        processorOptions: { targetRate, chunkSamples: Math.round((targetRate * (o.chunkMs ?? 50)) / 1000) },
      });
      source.connect(node);
      return new MicCapture(stream, source, node, targetRate);
    } catch (err) {
      if (!o.stream) for (const t of stream.getTracks()) t.stop();
      throw err;
    }
  }

  set muted(muted: boolean) {
    for (const t of this.stream.getAudioTracks()) t.enabled = !muted;
  }

  get muted(): boolean {
    return !this.stream.getAudioTracks().some((t) => t.enabled);
  }

  stop(): void {
    this.source.disconnect();
    this.#node.port.onmessage = null;
    this.#node.disconnect();
    for (const t of this.stream.getTracks()) t.stop();
    this.removeAllListeners();
  }
}
