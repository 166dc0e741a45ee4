import type { TextStreamReader } from '@livekit/rtc-node';

/** Text-stream topic of chat messages. */
export const TOPIC_CHAT = 'lk.chat';

/**
 * Largest `lk.chat` message forwarded to the model, UTF-8 bytes (16 KiB, about 4,000 tokens). The
 * Live API has no documented per-message text limit, but a message must fit one WebSocket frame the
 * service accepts (tens of MB close the session with 1009) and every message stays in the model's
 * context window (about 128k tokens on the native-audio models) for the rest of the session; chat
 * meant for a voice agent is far shorter.
 */
export const MAX_CHAT_BYTES = 16 * 1024;

/** Longest participant name put in front of forwarded text (`[Name] …`), characters. */
export const MAX_NAME_CHARS = 64;

/** One `lk.chat` message: its stream id (the same for every receiver), its sender, its text. */
export interface ChatMessage {
  id: string;
  from: string;
  text: string;
}

/** A chat message read up to a limit: its text, or how much was refused. */
export type ChatRead = { text: string } | { tooLarge: true; bytes: number | undefined };

/**
 * Reads a chat message, stopping at `max` bytes: a message announced larger (`totalSize`) is not read
 * at all, one that grows past the limit is abandoned there, so an oversize message is never held in
 * memory whole. `bytes` is the announced size when known.
 */
export async function readChat(reader: TextStreamReader, max = MAX_CHAT_BYTES): Promise<ChatRead> {
  const announced = reader.info.totalSize;
  if (announced !== undefined && announced > max) {
    await reader.close();
    return { tooLarge: true, bytes: announced };
  }
  let text = '';
  let bytes = 0;
  for await (const chunk of reader) {
    bytes += Buffer.byteLength(chunk);
    // Leaving the loop closes the reader.
    if (bytes > max) return { tooLarge: true, bytes: announced };
    text += chunk;
  }
  return { text };
}

/** What the sender of a refused message is told (a chat reply, which LiveKit chat UIs show). */
export function tooLargeReply(bytes: number | undefined, max = MAX_CHAT_BYTES): string {
  const size = bytes === undefined ? `more than ${kib(max)}` : kib(bytes);
  return `Your message was not sent to the assistant: it is ${size}, and the limit is ${kib(max, Math.floor)}.`;
}

/**
 * A chat message as the model gets it: with its sender's name in front in a room the model hears
 * several people in, as is in a conversation of its own.
 */
export function chatForModel(from: string, text: string, privateConversation: boolean): string {
  return privateConversation ? text : `[${from}] ${text}`;
}

/** A participant name as it may appear in text for the model. */
export function boundedName(name: string): string {
  return name.length > MAX_NAME_CHARS ? `${name.slice(0, MAX_NAME_CHARS)}…` : name;
}

/** Sizes round up, limits down: a message is never said to be within the limit it broke. */
function kib(bytes: number, round = Math.ceil): string {
  return bytes < 1024 ? `${bytes} bytes` : `${round(bytes / 1024)} KiB`;
}
