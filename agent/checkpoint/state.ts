import { z } from 'zod';
import { POLICIES } from '../config/room.ts';

/**
 * Version of the checkpoint format; a sealed checkpoint names it (codec.ts) and its plaintext repeats it.
 * Fields added later are optional and mean what their absence meant before (`sinceHandle`, `cut`): a
 * reader strips what it does not know, so workers of both releases read each other's checkpoints during
 * a rolling deploy, where a new version would make them refuse them.
 */
export const CHECKPOINT_VERSION = 1;

/** Most transcript turns a conversation keeps for a checkpoint (oldest dropped first). */
export const MAX_TRANSCRIPT_TURNS = 24;
/** Most characters of one transcript turn kept (the rest is cut: the tail rebuilds context, not a record). */
export const MAX_TURN_CHARS = 600;

/** One finished turn of the transcript tail. */
export const transcriptTurnSchema = z.object({
  role: z.enum(['user', 'model']),
  /** Who spoke a user turn (the shared session hears several people), as the model was told. */
  speaker: z.string().max(256).optional(),
  text: z.string().max(MAX_TURN_CHARS),
  /** A model turn that did not finish: cut by a barge-in, a lost connection, or the job's death mid-reply. */
  cut: z.boolean().optional(),
  /**
   * A user turn typed on `lk.chat`: the message's stream id (the same for every receiver). A job taking
   * the conversation over also received the messages sent while both were in the room, and leaves
   * those the old job's session already had (the ids in its final checkpoint).
   */
  chat: z.string().max(128).optional(),
});
export type TranscriptTurn = z.infer<typeof transcriptTurnSchema>;

/** What one Live session needs to continue: its latest resumption handle and its transcript tail. */
export const sessionStateSchema = z.object({
  /** Latest Gemini resumption handle (valid about 2 h after the session's last connection ended). */
  handle: z.string().max(4096).optional(),
  /** When the handle arrived, ms since the epoch. */
  handleAt: z.number().optional(),
  /** Last finished turns, oldest first: the context a fresh session is seeded with when the handle fails. */
  transcript: z.array(transcriptTurnSchema).max(MAX_TRANSCRIPT_TURNS).default([]),
  /**
   * How many of the transcript's last turns came after `handle` (Gemini issues handles only between
   * turns, so the utterance being answered and the reply cut by a crash are after it): a session
   * resumed with the handle has not heard them, and is told them (docs/recovery.md, "What users hear
   * after a crash"). Absent (older checkpoints): taken as none.
   */
  sinceHandle: z.number().int().nonnegative().optional(),
});
export type SessionState = z.infer<typeof sessionStateSchema>;

/**
 * What a conversation needs to continue on another job: written by the job (writer.ts), sealed
 * (codec.ts), kept in room metadata (store.ts). The room's shared session (`shared` and `floor`
 * policies) is at the top level (`handle`, `handleAt`, `transcript`); a `per-participant` room's
 * sessions are under `private` by participant identity.
 */
export const checkpointSchema = sessionStateSchema.extend({
  v: z.literal(CHECKPOINT_VERSION),
  /** Room and agent name it belongs to; a checkpoint naming others is foreign (codec.ts refuses it). */
  room: z.string(),
  agentName: z.string(),
  /** Rises with every write, across jobs (a new job continues from the checkpoint it read). */
  seq: z.number().int().nonnegative(),
  /** ms since the epoch. */
  writtenAt: z.number(),
  /** The job that wrote it (a recovering job can tell whether the owner is still in the room). */
  owner: z.object({ jobId: z.string(), identity: z.string() }),
  model: z.string(),
  /**
   * The resolved room configuration in force (`RoomConfig`): a recovering job runs with it instead of
   * resolving again (its dispatch metadata is not the original one). Checked with the room config
   * schema when read (resume.ts).
   */
  config: z.record(z.string(), z.unknown()),
  policy: z.enum(POLICIES),
  /** `floor`: who held the floor. */
  floor: z.string().optional(),
  /** Push-to-talk: who was holding, in the order they pressed. */
  pushToTalk: z.array(z.string()).default([]),
  /** `per-participant`: each participant's session, by identity. */
  private: z.record(z.string(), sessionStateSchema).default({}),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

/** The part of a checkpoint the job's state gives; the writer adds the rest (version, binding, seq, owner). */
export type CheckpointState = Omit<Checkpoint, 'v' | 'room' | 'agentName' | 'seq' | 'writtenAt' | 'owner'>;

/** A turn for the tail: its text bounded (the end kept: the latest words matter most to what follows). */
export function tailTurn(
  role: TranscriptTurn['role'],
  text: string,
  speaker?: string,
  cut?: boolean,
): TranscriptTurn {
  const t = text.trim();
  const bounded = t.length > MAX_TURN_CHARS ? `…${t.slice(t.length - MAX_TURN_CHARS + 1)}` : t;
  return { role, text: bounded, ...(speaker && { speaker: speaker.slice(0, 256) }), ...(cut && { cut }) };
}

/** Appends a turn to a tail, dropping the oldest beyond {@link MAX_TRANSCRIPT_TURNS}; false for an empty one (not kept). */
export function pushTurn(tail: TranscriptTurn[], turn: TranscriptTurn): boolean {
  if (!turn.text) return false;
  tail.push(turn);
  if (tail.length > MAX_TRANSCRIPT_TURNS) tail.splice(0, tail.length - MAX_TRANSCRIPT_TURNS);
  return true;
}

/**
 * Drops the oldest transcript turn of the session with the longest tail. False when no turn is left
 * to drop (what remains is the checkpoint's fixed part).
 */
export function dropOldestTurn(cp: Checkpoint): boolean {
  let longest: TranscriptTurn[] = cp.transcript;
  for (const s of Object.values(cp.private)) if (s.transcript.length > longest.length) longest = s.transcript;
  if (!longest.length) return false;
  longest.shift();
  return true;
}
