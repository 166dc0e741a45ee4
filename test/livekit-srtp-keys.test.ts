/**
 * The dev server's SRTP key patch (emulators/livekit/srtp-keys.ts): werift sessions keep working with
 * KeyObject keys, byte for byte. End-to-end media through the patched server is covered by the
 * livekit-media suite.
 */
import { KeyObject, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RtpHeader, SrtpSession } from 'werift';
import { installSrtpKeyObjects } from '../emulators/livekit/srtp-keys.ts';

const PROFILE_AES128_CM_SHA1_80 = 0x0001;

function pair() {
  const a = { key: randomBytes(16), salt: randomBytes(14) };
  const b = { key: randomBytes(16), salt: randomBytes(14) };
  const session = (local: typeof a, remote: typeof a) =>
    new SrtpSession({
      keys: {
        localMasterKey: local.key,
        localMasterSalt: local.salt,
        remoteMasterKey: remote.key,
        remoteMasterSalt: remote.salt,
      },
      profile: PROFILE_AES128_CM_SHA1_80,
    });
  return { create: () => [session(a, b), session(b, a)] as const };
}

function packet(seq: number): { header: RtpHeader; payload: Buffer } {
  const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960, ssrc: 1234 });
  return { header, payload: randomBytes(120) };
}

describe('livekit dev server: SRTP keys as KeyObjects', () => {
  it('encrypts to the same bytes as unpatched werift, and decrypts what it sent', () => {
    const keys = pair();
    const [plainA] = keys.create(); // created before the patch: raw Buffer keys
    installSrtpKeyObjects();
    installSrtpKeyObjects(); // idempotent
    const [patchedA, patchedB] = keys.create();
    const cipher = (patchedA as unknown as { localContext: { cipher: Record<string, unknown> } }).localContext
      .cipher;
    expect(cipher.srtpSessionKey).toBeInstanceOf(KeyObject);
    expect(cipher.srtpSessionAuthTag).toBeInstanceOf(KeyObject);
    for (let seq = 1; seq <= 5; seq++) {
      const { header, payload } = packet(seq);
      const before = plainA!.encrypt(payload, header);
      const after = patchedA!.encrypt(payload, header);
      expect(after.equals(before)).toBe(true);
      const back = patchedB!.decrypt(after);
      expect(back.subarray(back.length - payload.length).equals(payload)).toBe(true);
    }
  });
});
