import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** LiveKit-style ids: a type prefix and 12 random base62 characters (`RM_…`, `PA_…`, `TR_…`, `EV_…`). */
export function newId(prefix: 'RM_' | 'PA_' | 'TR_' | 'EV_'): string {
  const bytes = randomBytes(12);
  let out = prefix;
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}
