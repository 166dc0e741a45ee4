import { describe, expect, it } from 'vitest';
import { isVp8Keyframe } from '../emulators/livekit/media-forwarder.ts';

describe('VP8 keyframe detection (layer switches wait for one)', () => {
  it('reads the payload descriptor and the P bit', () => {
    expect(isVp8Keyframe(Uint8Array.from([0x10, 0x50, 0x2a]))).toBe(true); // S=1, PID=0, P=0
    expect(isVp8Keyframe(Uint8Array.from([0x10, 0x51, 0x2a]))).toBe(false); // interframe
    expect(isVp8Keyframe(Uint8Array.from([0x00, 0x50]))).toBe(false); // not a partition start
    expect(isVp8Keyframe(Uint8Array.from([0x11, 0x50]))).toBe(false); // partition 1
    // X=1 with a 15-bit picture id, TL0PICIDX and TID: the header follows five descriptor bytes.
    expect(isVp8Keyframe(Uint8Array.from([0x90, 0xe0, 0x81, 0x23, 0x07, 0x20, 0x50]))).toBe(true);
    expect(isVp8Keyframe(Uint8Array.from([0x90, 0xe0, 0x81, 0x23, 0x07, 0x20, 0x51]))).toBe(false);
    // 7-bit picture id only.
    expect(isVp8Keyframe(Uint8Array.from([0x90, 0x80, 0x05, 0x50]))).toBe(true);
    expect(isVp8Keyframe(new Uint8Array())).toBe(false);
    expect(isVp8Keyframe(Uint8Array.from([0x90, 0x80]))).toBe(false); // truncated
  });
});
