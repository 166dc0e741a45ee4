import { type ReceivedMessage, useRoomContext } from '@livekit/components-react';
import { useEffect, useRef } from 'react';
import { displayName } from './display-name.ts';

/**
 * Transcripts and chat in arrival order. `useSessionMessages` types a transcript `userTranscript` only
 * when the local participant said it; anyone else's is `agentTranscript`, so the speaker (and its
 * role) comes from `from`, the participant who sent the stream.
 */
export function Transcript({ messages }: { messages: ReceivedMessage[] }) {
  const room = useRoomContext();
  const end = useRef<HTMLLIElement>(null);
  // Braces: Chromium's scrollIntoView returns a promise, and an effect that returns anything but a
  // cleanup function makes React throw when the list unmounts.
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll whenever the list changes.
  useEffect(() => {
    end.current?.scrollIntoView({ block: 'end' });
  }, [messages]);
  return (
    <ol className="transcript" role="log" aria-label="Conversation" data-testid="transcript">
      {messages.map((m) => {
        const from = m.from;
        const role = !from
          ? 'unknown'
          : from === room.localParticipant
            ? 'self'
            : from.isAgent
              ? 'agent'
              : 'user';
        return (
          <li
            key={m.id}
            data-kind={m.type ?? 'chatMessage'}
            data-role={role}
            data-identity={from?.identity ?? ''}
            data-final={m.attributes?.['lk.transcription_final'] ?? ''}
          >
            <span className="speaker">{from ? displayName(from) : 'unknown'}</span>
            <span className="text">{m.message}</span>
          </li>
        );
      })}
      <li ref={end} aria-hidden="true" className="end" />
    </ol>
  );
}
