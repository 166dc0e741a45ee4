import type { Room } from '@livekit/rtc-node';
import type { LiveInputRefusal } from '../live/input.ts';
import { textInput } from '../live/input.ts';
import type { Logger } from '../log.ts';
import {
  type ChatMessage,
  chatForModel,
  MAX_CHAT_BYTES,
  readChat,
  TOPIC_CHAT,
  tooLargeReply,
} from './chat.ts';
import type { Conversation } from './conversation.ts';

/** Where a participant's chat goes. */
export interface ChatRecipient {
  conversation: Conversation;
  /** The sender's name in text for the model. */
  name: string;
  /** The conversation is the sender's own (`per-participant`). */
  private: boolean;
}

/** Options of a {@link ChatInbox}. */
export interface ChatInboxOptions {
  room: Room;
  logger: Logger;
  /** Where `identity`'s chat goes; `undefined` drops it (not a participant the agent serves). */
  recipient: (identity: string) => ChatRecipient | undefined;
  /** A message was handed to a conversation's Live session (reports record it). */
  forwarded?: (identity: string, text: string, conversation: Conversation) => void;
}

/** Chat messages recently forwarded per conversation, to name the sender of one refused later. */
const REMEMBERED = 16;
/** Stream ids of the latest messages, so that one that comes twice (on `lk.chat` and passed on) is taken once. */
const SEEN_IDS = 64;

/**
 * `lk.chat` from participants to the model. A message the model will not get (over 16 KiB, or refused
 * by the Live session as too large, before sending or by the service afterwards) is answered on
 * `lk.chat` to its sender alone, which LiveKit chat UIs show, and logged without its content.
 */
export class ChatInbox {
  readonly #o: ChatInboxOptions;
  readonly #sent = new WeakMap<Conversation, { identity: string; bytes: number }[]>();
  /** The sender of the message being handed to a session now (its refusal comes synchronously). */
  #sending: string | undefined;
  readonly #seen = new Set<string>();
  /** Where messages go instead of a conversation (see {@link ChatInbox.redirect}). */
  #redirect: ((chat: ChatMessage) => void) | undefined;
  #closed = false;

  constructor(o: ChatInboxOptions) {
    this.#o = o;
  }

  start(): void {
    this.#o.room.registerTextStreamHandler(TOPIC_CHAT, (reader, { identity }) => {
      const id = reader.info.streamId;
      readChat(reader)
        .then((read) =>
          'text' in read
            ? this.#forward(identity, read.text, id)
            : this.#refuse(identity, read.bytes, MAX_CHAT_BYTES, 'chat: message too large, refused'),
        )
        .catch((err) => this.#o.logger.warn({ err: String(err) }, 'chat: unreadable message'));
    });
  }

  /** A message that came another way (see `RoomBridge.relayChat`): as if on `lk.chat`, once per id. */
  receive(identity: string, text: string, id: string): void {
    if (!this.#closed || this.#redirect) this.#forward(identity, text, id);
  }

  /**
   * From now on every message goes to `to` — those whose reading began before included — and the
   * inbox keeps reading `lk.chat` after {@link close} (until the room disconnects).
   */
  redirect(to: (chat: ChatMessage) => void): void {
    this.#redirect = to;
  }

  /** Answers the senders of chat messages `conversation`'s Live session refuses. */
  watch(conversation: Conversation): void {
    conversation.on('inputRefused', (r) => this.#onRefused(conversation, r));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#redirect) return; // still read, and passed on
    try {
      this.#o.room.unregisterTextStreamHandler(TOPIC_CHAT);
    } catch {
      // Not registered (start failed early).
    }
  }

  #forward(identity: string, text: string, id: string): void {
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    if (this.#seen.size > SEEN_IDS) this.#seen.delete(this.#seen.values().next().value!);
    if (this.#redirect) {
      this.#redirect({ id, from: identity, text });
      return;
    }
    const to = this.#o.recipient(identity);
    if (!to || !text.trim()) return;
    const bytes = textInput(chatForModel(to.name, text, to.private)).bytes;
    this.#sending = identity;
    try {
      if (!to.conversation.chat(to.name, text, id)) return;
    } finally {
      this.#sending = undefined;
    }
    this.#o.forwarded?.(identity, text, to.conversation);
    const sent = this.#sent.get(to.conversation) ?? [];
    sent.push({ identity, bytes });
    this.#sent.set(to.conversation, sent.slice(-REMEMBERED));
  }

  #onRefused(conversation: Conversation, r: LiveInputRefusal): void {
    const { kind, bytes, limit, by } = r;
    // Chat is the only text input (context notes are `content`).
    if (kind !== 'text') return;
    let sender = this.#sending;
    if (!sender) {
      // Refused by the service after it was sent: the forwarded message of that size.
      const sent = this.#sent.get(conversation) ?? [];
      const i = sent.findLastIndex((s) => s.bytes === bytes);
      if (i >= 0) sender = sent.splice(i, 1)[0]!.identity;
    }
    if (!sender) {
      this.#o.logger.warn(
        { bytes, limit, by },
        'chat: a message was refused by the Live session as too large',
      );
      return;
    }
    this.#refuse(sender, bytes, limit, 'chat: message refused by the Live session as too large', by);
  }

  /** The model never sees the message; its sender is told on `lk.chat`. */
  #refuse(identity: string, bytes: number | undefined, max: number, why: string, by?: string): void {
    this.#o.logger.warn({ participant: identity, bytes, max, ...(by && { by }) }, why);
    const { room } = this.#o;
    const lp = room.localParticipant;
    if (!lp || this.#closed || !room.isConnected) return;
    lp.sendText(tooLargeReply(bytes, max), { topic: TOPIC_CHAT, destinationIdentities: [identity] }).catch(
      (err) => this.#o.logger.warn({ err: String(err) }, 'chat: cannot tell the sender'),
    );
  }
}
