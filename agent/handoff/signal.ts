import type { ChatMessage } from '../bridge/chat.ts';

/**
 * The signal between the old job and its successor: one RPC, successor → old agent identity. Its
 * request says "I listen to everyone here" (with the ticket's secret id, which only the successor's
 * dispatch carried); its answer comes once the old job's Live sessions are closed, with the instant
 * they stopped taking input. Attributes would do too, but every participant can read those: the RPC
 * goes to the old agent alone and is answered by it alone.
 */
export const HANDOFF_RPC = 'lk.agent.handoff';

/** The successor's request: ready. */
export interface HandoffReady {
  /** The ticket's id (agent/handoff/ticket.ts). */
  id: string;
}

/** The old job's answer: its sessions are closed. */
export interface HandoffRelease {
  /** Epoch ms (the old job's clock) after which its sessions took no input: the successor sends from here. */
  at: number;
  /** `seq` of the old job's final checkpoint. */
  seq: number;
}

/**
 * Old job → successor: a chat message that reached the old job after its sessions closed. Sent before
 * the successor joined (so only the old job had it) and slow to arrive; without this nobody would
 * answer it. The successor takes it as its own `lk.chat` input (leaving it if it had it already).
 */
export const HANDOFF_CHAT_RPC = 'lk.agent.handoff.chat';

/** A chat message passed on ({@link HANDOFF_CHAT_RPC}): the payload is the message as the bridge reads it. */
export type HandoffChat = ChatMessage;

/** LiveKit's limit on an RPC payload, bytes: a longer chat message cannot be passed on. */
export const MAX_RPC_PAYLOAD_BYTES = 15 * 1024;
