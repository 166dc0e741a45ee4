/**
 * Still frames from the camera or a shared screen, the way the Live API takes video: JPEG images at
 * about one per second, scaled to fit `maxSize` (768 px is Google's recommendation).
 */
export interface VideoSamplerOptions {
  source: 'camera' | 'screen';
  /** Receives each frame as base64 JPEG. */
  onFrame: (base64Jpeg: string) => void;
  /** Frames per second. Default 1. */
  fps?: number;
  /** Longest side of a frame in px. Default 768. */
  maxSize?: number;
  /** JPEG quality 0..1. Default 0.7. */
  quality?: number;
}

export class VideoSampler {
  /** A muted, playing preview of what is sampled. */
  readonly element: HTMLVideoElement;
  readonly stream: MediaStream;
  #timer: ReturnType<typeof setInterval>;
  #canvas = document.createElement('canvas');
  #busy = false;
  #stopped = false;

  private constructor(stream: MediaStream, element: HTMLVideoElement, o: VideoSamplerOptions) {
    this.stream = stream;
    this.element = element;
    const maxSize = o.maxSize ?? 768;
    this.#timer = setInterval(() => void this.#sample(o, maxSize), 1000 / (o.fps ?? 1));
    // The browser's own "stop sharing" button ends the track; treat it as turning the source off.
    for (const t of stream.getVideoTracks()) t.addEventListener('ended', () => this.stop());
  }

  static async start(o: VideoSamplerOptions): Promise<VideoSampler> {
    const stream =
      o.source === 'camera'
        ? await navigator.mediaDevices.getUserMedia({
            video: { width: { ideal: 1280 }, height: { ideal: 720 } },
          })
        : await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const element = document.createElement('video');
    element.muted = true;
    element.playsInline = true;
    element.srcObject = stream;
    await element.play().catch(() => {});
    return new VideoSampler(stream, element, o);
  }

  /** Called once when the source ends (stopped here or by the browser). */
  onEnded: (() => void) | null = null;

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const t of this.stream.getTracks()) t.stop();
    this.element.srcObject = null;
    const ended = this.onEnded;
    this.onEnded = null;
    ended?.();
  }

  async #sample(o: VideoSamplerOptions, maxSize: number): Promise<void> {
    const { videoWidth: w, videoHeight: h } = this.element;
    if (this.#busy || !w || !h) return;
    this.#busy = true;
    try {
      const scale = Math.min(1, maxSize / Math.max(w, h));
      this.#canvas.width = Math.round(w * scale);
      this.#canvas.height = Math.round(h * scale);
      this.#canvas.getContext('2d')?.drawImage(this.element, 0, 0, this.#canvas.width, this.#canvas.height);
      const blob = await new Promise<Blob | null>((r) =>
        this.#canvas.toBlob(r, 'image/jpeg', o.quality ?? 0.7),
      );
      if (!blob || this.#stopped) return;
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000)
        binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      if (!this.#stopped) o.onFrame(btoa(binary));
    } finally {
      this.#busy = false;
    }
  }
}
