// AudioWorklet: downsamples the microphone to 16-bit PCM at the target rate (16 kHz for the Live API)
// and posts fixed-size chunks to the main thread. Resampling happens here rather than by running the
// AudioContext at 16 kHz because Firefox refuses to connect a microphone stream to a context whose rate
// differs from the device's.

// Globals of the AudioWorkletGlobalScope (not in TypeScript's DOM lib).
declare const sampleRate: number;
declare function registerProcessor(name: string, ctor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

interface Options {
  processorOptions?: { targetRate?: number; chunkSamples?: number };
}

class PcmCaptureProcessor extends AudioWorkletProcessor {
  #step: number;
  #chunk: Int16Array;
  #filled = 0;
  // Box-filter accumulator: averaging the input over each output period is the low-pass that keeps
  // the decimation from aliasing (speech energy sits well below 8 kHz).
  #acc = 0;
  #accWeight = 0;
  #phase = 0;

  constructor(options: Options) {
    super();
    const target = options.processorOptions?.targetRate ?? 16_000;
    this.#step = sampleRate / target;
    this.#chunk = new Int16Array(options.processorOptions?.chunkSamples ?? Math.round(target / 20));
  }

  process(inputs: Float32Array[][]): boolean {
    const channel = inputs[0]?.[0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      let remaining = 1;
      const sample = channel[i]!;
      while (remaining > 0) {
        const take = Math.min(remaining, this.#step - this.#phase);
        this.#acc += sample * take;
        this.#accWeight += take;
        this.#phase += take;
        remaining -= take;
        if (this.#phase >= this.#step - 1e-9) {
          this.#push(this.#acc / this.#accWeight);
          this.#acc = 0;
          this.#accWeight = 0;
          this.#phase = 0;
        }
      }
    }
    return true;
  }

  #push(value: number): void {
    const clamped = Math.max(-1, Math.min(1, value));
    this.#chunk[this.#filled++] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    if (this.#filled === this.#chunk.length) {
      const out = this.#chunk;
      // Allocate before transferring: a transferred buffer's view reports length 0.
      this.#chunk = new Int16Array(out.length);
      this.#filled = 0;
      this.port.postMessage(out, [out.buffer]);
    }
  }
}

registerProcessor('pcm-capture', PcmCaptureProcessor);
