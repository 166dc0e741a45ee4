import { createSecretKey } from 'node:crypto';
import { SrtpSession } from 'werift';

/**
 * werift passes its SRTP/SRTCP session keys to `createCipheriv`/`createHmac` as raw Buffers on every
 * packet, and Node then builds a KeyObject per call: about four times the cost of the AES and HMAC work
 * itself, and the largest share of the dev server's CPU under load. Turning each session's keys into
 * KeyObjects once, right after werift derived them, produces the same bytes on the wire.
 *
 * Patches werift's shared SRTP/SRTCP `Session.start` (process-wide, idempotent).
 */
export function installSrtpKeyObjects(): void {
  const session = Object.getPrototypeOf(SrtpSession.prototype) as SessionPrototype;
  if (session[PATCHED]) return;
  const start = session.start;
  session.start = function (this: SessionLike, ...args: unknown[]) {
    start.apply(this, args);
    for (const ctx of [this.localContext, this.remoteContext]) {
      const cipher = ctx?.cipher;
      if (!cipher) continue;
      for (const field of KEY_FIELDS) {
        const key = cipher[field];
        if (Buffer.isBuffer(key)) cipher[field] = createSecretKey(key);
      }
    }
  };
  session[PATCHED] = true;
}

/** The cipher fields werift only ever hands to createCipheriv/createDecipheriv/createHmac. */
const KEY_FIELDS = [
  'srtpSessionKey',
  'srtcpSessionKey',
  'srtpSessionAuthTag',
  'srtcpSessionAuthTag',
] as const;
const PATCHED = Symbol.for('livekit-dev.srtpKeyObjects');

interface SessionLike {
  localContext?: { cipher?: Record<string, unknown> };
  remoteContext?: { cipher?: Record<string, unknown> };
}
interface SessionPrototype {
  start(this: SessionLike, ...args: unknown[]): void;
  [PATCHED]?: boolean;
}
