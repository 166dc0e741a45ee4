import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM under the deployment's checkpoint key (key.ts), as base64url(iv ‖ ciphertext ‖ tag) with a
 * random 96-bit IV: the one sealing of what workers leave for each other where clients can read or
 * write it (checkpoints in room metadata, hand-off tickets in dispatch metadata). Each use has its own
 * `aad`, so that one use's sealed text never opens as another's; its prefix and its errors are its own.
 */
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals `plain` (a string is taken as UTF-8) under `key`, authenticating `aad` with it. */
export function seal(plain: string | Uint8Array, key: Buffer, aad: Uint8Array): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const data = typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain;
  const ct = Buffer.concat([cipher.update(data), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64url');
}

/**
 * What {@link open} found: the plaintext, or why there is none — too short to hold an IV and a tag, or
 * failed authentication (changed after sealing, another key or `aad`, or a key that is no AES-256 key).
 */
export type Opened = { plain: Buffer } | { refused: 'truncated' | 'unauthentic' };

/** Opens what {@link seal} made with the same `key` and `aad`. */
export function open(sealed: string, key: Buffer, aad: Uint8Array): Opened {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) return { refused: 'truncated' };
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(aad);
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return {
      plain: Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]),
    };
  } catch {
    return { refused: 'unauthentic' };
  }
}
