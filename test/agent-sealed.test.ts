/**
 * The two things a worker seals with the deployment's checkpoint key (AES-256-GCM), on their own: a
 * conversation checkpoint (room metadata) and a hand-off ticket (dispatch metadata). Both formats live
 * beyond one worker release (a checkpoint outlives the job that wrote it, a ticket crosses a rolling
 * update), so the vectors below, sealed by an earlier release, must keep opening. The whole paths, with
 * real workers: agent-checkpoint.test.ts, scale-handoff.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  CheckpointError,
  checkpointKey,
  openCheckpoint,
  sealCheckpoint,
} from '../agent/checkpoint/index.ts';
import {
  HANDOFF_METADATA_KEY,
  type HandoffTicket,
  readTicket,
  TicketError,
  ticketMetadata,
} from '../agent/handoff/index.ts';

const key = checkpointKey('test-vector secret');
const bind = { room: 'vec-room', agentName: 'vec-agent' };

const checkpoint: Checkpoint = {
  v: 1,
  ...bind,
  seq: 7,
  writtenAt: 1_780_000_000_000,
  owner: { jobId: 'AJ_vec', identity: 'agent-AJ_vec' },
  model: 'gemini-2.5-flash-native-audio-preview-12-2025',
  config: { voice: 'Kore' },
  policy: 'shared',
  pushToTalk: [],
  private: {},
  handle: 'handle-vec',
  handleAt: 1_780_000_000_000,
  transcript: [
    { role: 'user', speaker: 'Alice', text: 'the code is 42' },
    { role: 'model', text: 'Noted: 42.' },
  ],
};
/** `checkpoint`, sealed under `key` by the release before the shared AEAD helper. */
const CHECKPOINT_VECTOR =
  'cp1.SoMwEty-5edPhUL0NzG5fkHA6DXJ5mmiD-5-pjZJlkhrjfqwuwhw8ZEwqCT6VsWCTovOK0bihVezaG8y_17RBkUuFOgLIn8m-lN4yGlLyA4f6bg4y-j66b2TOd0PfeQoM5i3KHQ0sitGixx7uxv12XE3M_RdAbYKuGzQ0qyX5A9DO2nw84GddjbzWX7cb5EkjJL4TnMvDoX7Z14MDxOucZn5q23WqFnbx43Ca8NfxIQ6-R-JgwHrNYiIgOPdj8ei8iVf9aUV-0cMdgS92E0kDgeVQYNqfggQz3NdBVK1J_vIQRltGdqq7MRF0nZPxULeQfQ2PdvjzVrngCbEdogVPWC87VkbsZB5zXMxUS9zHhINrI-ooWNo62x8EHa676hY8IbLyFGY30R7tlQEuqcYcOwsDVqhc8xTDASL75JAjaCyA0hmGaF_3Xg5-7DXXLyvts_K1gvn9CYgm41As10wyhJHsj5wIyRFNI6W_-Di0NcWEapCy8OQIneCgVBAUpMH9XGb5AOCb18h9f8Ed66jirZKVUXgSH9kJ0Z3hlg0O5oMpPn99Ama1qWkTF_y_PQd4XFVt1ji7yDjYKniHb4mPDix';

const ticket: HandoffTicket = {
  ...bind,
  from: { jobId: 'AJ_vec', identity: 'agent-AJ_vec' },
  seq: 7,
  id: 'ticket-id-of-the-vector',
  expiresAt: 1_780_000_600_000,
};
/** `ticket`'s dispatch metadata, sealed under `key` by the release before the shared AEAD helper. */
const TICKET_VECTOR =
  '{"lk.agent.handoff":"ho1.Y5NG8gwo8AgcpVmALjYqexIyIHgExiL9fRNY0QN50eHnfHefdYGNFxv9EEEn6144R2cUFr_Qr0nQfp_BxHbKNkP_Dewq53R_Sj1uHxNYcSzlUWPtc9RnH-u0KcBfOmXiHxh7GU-E69D8l1AgQFS0MCDKwNr6kZSF9fUYL2mAQv-YF-mNOPSuBTVXRhZ841ifyyIbI4E8Hy7R7k3LetOFPnuYG8qHdYfXykYyqNiAu63nz4U8smcEE-oxZMw"}';
const beforeExpiry = ticket.expiresAt - 1;

/** `s` with the character at `at` (from the end when negative) changed. */
function flip(s: string, at: number): string {
  const i = at < 0 ? s.length + at : at;
  return s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

/** The error `fn` throws, as reason and message. */
function refusal(fn: () => unknown): { reason: string; message: string } | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof CheckpointError || err instanceof TicketError)
      return { reason: err.reason, message: err.message };
    throw err;
  }
  return undefined;
}

/** The sealed part of ticket metadata. */
const sealedTicket = (metadata: string) => JSON.parse(metadata)[HANDOFF_METADATA_KEY] as string;
const ticketWith = (sealed: string) => JSON.stringify({ [HANDOFF_METADATA_KEY]: sealed });

describe('sealed checkpoints', () => {
  it('one sealed by an earlier release opens, whole', () => {
    expect(openCheckpoint(CHECKPOINT_VECTOR, key, bind)).toEqual(checkpoint);
  });

  it('a new seal opens, and is the same layout: cp1. + base64url(12-byte IV ‖ plaintext-length ciphertext ‖ 16-byte tag)', () => {
    const sealed = sealCheckpoint(checkpoint, key, bind);
    expect(sealed).not.toBe(sealCheckpoint(checkpoint, key, bind));
    expect(openCheckpoint(sealed, key, bind)).toEqual(checkpoint);
    expect(sealed.startsWith('cp1.')).toBe(true);
    const plain = Buffer.byteLength(JSON.stringify(checkpoint));
    expect(Buffer.from(sealed.slice(4), 'base64url').length).toBe(12 + plain + 16);
    expect(sealed.length).toBe(CHECKPOINT_VECTOR.length);
  });

  it('changed, truncated, under another key or for another room or agent: refused as before', () => {
    const authFailed = {
      reason: 'tampered',
      message: 'checkpoint failed authentication (changed, or sealed with another key)',
    };
    expect(refusal(() => openCheckpoint(flip(CHECKPOINT_VECTOR, -30), key, bind))).toEqual(authFailed);
    expect(refusal(() => openCheckpoint(flip(CHECKPOINT_VECTOR, 6), key, bind))).toEqual(authFailed);
    expect(refusal(() => openCheckpoint(CHECKPOINT_VECTOR, checkpointKey('another secret'), bind))).toEqual(
      authFailed,
    );
    expect(refusal(() => openCheckpoint(CHECKPOINT_VECTOR, key.subarray(0, 16), bind))).toEqual(authFailed);
    expect(refusal(() => openCheckpoint(CHECKPOINT_VECTOR.slice(0, 40), key, bind))).toEqual({
      reason: 'tampered',
      message: 'checkpoint is truncated',
    });
    expect(refusal(() => openCheckpoint(CHECKPOINT_VECTOR, key, { ...bind, room: 'other' }))).toEqual({
      reason: 'foreign',
      message: 'checkpoint belongs to another room',
    });
    expect(refusal(() => openCheckpoint(CHECKPOINT_VECTOR, key, { ...bind, agentName: 'other' }))).toEqual({
      reason: 'foreign',
      message: 'checkpoint belongs to another agent name',
    });
    expect(refusal(() => openCheckpoint(`cp2.${CHECKPOINT_VECTOR.slice(4)}`, key, bind))).toEqual({
      reason: 'version',
      message: 'checkpoint version 2 is not readable here',
    });
  });
});

describe('sealed hand-off tickets', () => {
  it('one sealed by an earlier release reads, whole', () => {
    expect(readTicket(TICKET_VECTOR, key, bind, beforeExpiry)).toEqual(ticket);
  });

  it('a new seal reads, and is the same layout: ho1. + base64url(12-byte IV ‖ plaintext-length ciphertext ‖ 16-byte tag)', () => {
    const metadata = ticketMetadata(ticket, key);
    expect(readTicket(metadata, key, bind, beforeExpiry)).toEqual(ticket);
    const sealed = sealedTicket(metadata);
    expect(sealed.startsWith('ho1.')).toBe(true);
    const plain = Buffer.byteLength(JSON.stringify(ticket));
    expect(Buffer.from(sealed.slice(4), 'base64url').length).toBe(12 + plain + 16);
    expect(metadata.length).toBe(TICKET_VECTOR.length);
  });

  it('changed, truncated, under another key, foreign or expired: refused as before', () => {
    const sealed = sealedTicket(TICKET_VECTOR);
    const notSealedHere = {
      reason: 'tampered',
      message: 'the hand-off ticket was not sealed by a worker of this deployment',
    };
    expect(refusal(() => readTicket(ticketWith(flip(sealed, -30)), key, bind, beforeExpiry))).toEqual(
      notSealedHere,
    );
    expect(refusal(() => readTicket(ticketWith(flip(sealed, 6)), key, bind, beforeExpiry))).toEqual(
      notSealedHere,
    );
    expect(
      refusal(() => readTicket(TICKET_VECTOR, checkpointKey('another secret'), bind, beforeExpiry)),
    ).toEqual(notSealedHere);
    expect(refusal(() => readTicket(ticketWith(sealed.slice(0, 30)), key, bind, beforeExpiry))).toEqual({
      reason: 'invalid',
      message: 'not a hand-off ticket',
    });
    expect(refusal(() => readTicket(ticketWith(`ho2.${sealed.slice(4)}`), key, bind, beforeExpiry))).toEqual({
      reason: 'invalid',
      message: 'not a hand-off ticket',
    });
    expect(refusal(() => readTicket(TICKET_VECTOR, key, { ...bind, room: 'other' }, beforeExpiry))).toEqual({
      reason: 'foreign',
      message: 'the hand-off ticket is for another room or agent',
    });
    expect(refusal(() => readTicket(TICKET_VECTOR, key, bind, ticket.expiresAt + 1))).toEqual({
      reason: 'expired',
      message: 'the hand-off ticket has expired',
    });
    expect(refusal(() => readTicket(TICKET_VECTOR, undefined, bind, beforeExpiry))).toMatchObject({
      reason: 'checkpoints off',
    });
  });
});
