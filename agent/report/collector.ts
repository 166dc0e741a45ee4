import { ParticipantKind, type RemoteParticipant, type Room, RoomEvent } from '@livekit/rtc-node';
import type { Conversation } from '../bridge/conversation.ts';
import type { RoomBridge } from '../bridge/room-bridge.ts';
import type { ReportBuilder } from './builder.ts';
import type { ReportReconnect } from './types.ts';

/**
 * Feeds a {@link ReportBuilder} from a room and its bridge: humans joining and leaving, each
 * conversation's final transcripts (user turns, agent replies), chat handed to the model, tool calls,
 * reconnects and failures. Attach before `bridge.start()` (conversations are announced as they are
 * created). Returns the function that detaches it from the room and the bridge (a report built
 * afterwards is a copy: what conversations still report after that changes nothing sent).
 */
export function collectReport(room: Room, bridge: RoomBridge, report: ReportBuilder): () => void {
  const human = (p: RemoteParticipant) => p.kind !== ParticipantKind.AGENT;
  const join = (p: RemoteParticipant) => {
    if (human(p)) report.joined(p.identity, p.name || undefined);
  };
  const leave = (p: RemoteParticipant) => report.left(p.identity);
  for (const p of room.remoteParticipants.values()) join(p);
  room.on(RoomEvent.ParticipantConnected, join);
  room.on(RoomEvent.ParticipantDisconnected, leave);

  const agent = () => room.localParticipant?.identity ?? report.head.agentIdentity;
  const user = (identity: string) => {
    const name = room.remoteParticipants.get(identity)?.name || report.nameOf(identity);
    return { kind: 'user' as const, identity, ...(name && { name }) };
  };
  /** Per conversation: whose input the model answers now (its tool calls act for them). */
  const lastAuthor = new WeakMap<Conversation, string>();

  const onChat = (identity: string, text: string, conv: Conversation) => {
    lastAuthor.set(conv, identity);
    report.said({ speaker: user(identity), text, chat: true });
  };
  const onConversation = (conv: Conversation) => {
    conv.on('userTurn', (speaker, text) => {
      if (!speaker) return;
      lastAuthor.set(conv, speaker.identity);
      report.said({ speaker: user(speaker.identity), text });
    });
    conv.on('agentTurn', (text, { interrupted }) =>
      report.said({
        speaker: { kind: 'agent', identity: agent() },
        text,
        ...(interrupted && { interrupted }),
      }),
    );
    conv.on('toolStarted', (c) => report.toolStarted(c, lastAuthor.get(conv)));
    conv.on('toolFinished', (c) => report.toolFinished(c, lastAuthor.get(conv)));
    let pending: ReportReconnect | undefined;
    conv.on('reconnecting', ({ reason, code, attempt }) => {
      // Later attempts of the same replacement are the same reconnect.
      if (attempt === 1 || !pending) pending = report.reconnecting(reason, code);
    });
    conv.on('ready', ({ resumed }) => {
      if (pending) pending.resumed = resumed;
      pending = undefined;
    });
    conv.on('contextLost', () =>
      report.error('context_lost', 'a reconnect could not resume: the model started blank'),
    );
    conv.on('inputRefused', ({ kind, bytes, limit, by }) =>
      report.error('input_refused', `${kind} input of ${bytes} bytes over the ${by} limit of ${limit}`),
    );
    conv.on('fatal', (err) => report.error(`fatal:${err.kind}`, err.message, err.code));
    conv.on('usage', (u) => report.addUsage(u));
  };
  bridge.on('conversation', onConversation);
  bridge.on('chat', onChat);

  return () => {
    room.off(RoomEvent.ParticipantConnected, join);
    room.off(RoomEvent.ParticipantDisconnected, leave);
    bridge.off('conversation', onConversation);
    bridge.off('chat', onChat);
  };
}
