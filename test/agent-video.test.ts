import { VideoBufferType, VideoFrame } from '@livekit/rtc-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeJpeg } from '../agent/bridge/video.ts';

describe('video frame encoding', () => {
  it('downscales to fit 768 px and encodes JPEG', async () => {
    const w = 1280;
    const h = 720;
    const data = new Uint8Array(w * h * 4).fill(200);
    const jpeg = await encodeJpeg(new VideoFrame(data, w, h, VideoBufferType.RGBA), 768, 70);
    expect(jpeg[0]).toBe(0xff);
    expect(jpeg[1]).toBe(0xd8);
    const meta = await sharp(jpeg).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.width).toBe(768);
    expect(meta.height).toBe(432);
  });

  it('never enlarges small frames', async () => {
    const data = new Uint8Array(320 * 240 * 4).fill(10);
    const jpeg = await encodeJpeg(new VideoFrame(data, 320, 240, VideoBufferType.RGBA), 768, 70);
    const meta = await sharp(jpeg).metadata();
    expect([meta.width, meta.height]).toEqual([320, 240]);
  });
});
