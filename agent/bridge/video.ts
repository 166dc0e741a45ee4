import { type Track, VideoBufferType, type VideoFrame, VideoStream } from '@livekit/rtc-node';
import sharp from 'sharp';
import type { Logger } from '../log.ts';

/** Options of a {@link VideoSampler}. */
export interface VideoSamplerOptions {
  /** Frames per second handed on (≤ 1 for the Live API). */
  fps: number;
  /** Longest side of the JPEG, px. */
  maxSize: number;
  /** JPEG quality 1–100. */
  quality: number;
  /** Receives each sampled JPEG; return false to skip (participant not attended). */
  onFrame: (jpeg: Uint8Array) => void;
  /** Whether the track's owner is attended now; unattended frames are not encoded. */
  attended: () => boolean;
  logger: Logger;
}

/** Downscales an RGBA frame to fit `maxSize` and encodes it as JPEG (sharp/libvips). */
export async function encodeJpeg(frame: VideoFrame, maxSize: number, quality: number): Promise<Uint8Array> {
  const rgba = frame.type === VideoBufferType.RGBA ? frame : frame.convert(VideoBufferType.RGBA);
  const input = Buffer.from(rgba.data.buffer, rgba.data.byteOffset, rgba.data.byteLength);
  const out = await sharp(input, { raw: { width: rgba.width, height: rgba.height, channels: 4 } })
    .resize({ width: maxSize, height: maxSize, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality })
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Samples a camera or screen track at ≤ 1 fps: keeps only the newest decoded frame and, once per period,
 * encodes it if it is new and its owner is attended. Nothing queues up behind a slow encoder.
 */
export class VideoSampler {
  readonly #o: VideoSamplerOptions;
  readonly #reader: ReadableStreamDefaultReader<{ frame: VideoFrame }>;
  readonly #timer: NodeJS.Timeout;
  #latest: VideoFrame | undefined;
  #encoding = false;
  #closed = false;
  /** JPEGs handed on. */
  sent = 0;

  constructor(track: Track, options: VideoSamplerOptions) {
    this.#o = options;
    this.#reader = new VideoStream(track).getReader();
    void this.#read();
    this.#timer = setInterval(() => void this.#tick(), Math.max(1000, 1000 / Math.min(options.fps, 1)));
  }

  async #read(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done || this.#closed) break;
        this.#latest = value.frame;
      }
    } catch {
      // Track gone.
    }
  }

  async #tick(): Promise<void> {
    const frame = this.#latest;
    if (!frame || this.#encoding || this.#closed || !this.#o.attended()) return;
    this.#latest = undefined;
    this.#encoding = true;
    try {
      const jpeg = await encodeJpeg(frame, this.#o.maxSize, this.#o.quality);
      if (!this.#closed) {
        this.sent += 1;
        this.#o.onFrame(jpeg);
      }
    } catch (err) {
      this.#o.logger.warn({ err: String(err) }, 'video: frame encoding failed');
    } finally {
      this.#encoding = false;
    }
  }

  async aclose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    // Cancelling a native stream can stall on a dying room; shutdown must not wait on it.
    void this.#reader.cancel().catch(() => {});
  }
}
