import { useSessionContext, useSessionMessages } from '@livekit/components-react';
import { AgentTile } from './agent-tile.tsx';
import { ChatInput } from './chat-input.tsx';
import { ControlBar } from './control-bar.tsx';
import { ParticipantTiles } from './participant-tiles.tsx';
import { Transcript } from './transcript.tsx';

/**
 * The room: the agent and everyone's camera/screen on the stage, the conversation (transcripts and
 * chat from `useSessionMessages`) beside it, the controls below. One column on a phone.
 */
export function SessionView({ onLeave, error }: { onLeave: () => void; error: string | null }) {
  const session = useSessionContext();
  const { messages, send, isSending } = useSessionMessages();
  return (
    <section className="session" data-testid="session" data-connection={session.connectionState}>
      <header className="session-header">
        <span data-testid="room-name">{session.room.name}</span>
        <span className="connection">{session.connectionState}</span>
        {error && (
          <p role="alert" className="error" data-testid="session-error">
            {error}
          </p>
        )}
      </header>
      <div className="stage">
        <AgentTile />
        <ParticipantTiles />
      </div>
      <aside className="conversation">
        <Transcript messages={messages} />
        <ChatInput send={send} isSending={isSending} />
      </aside>
      <ControlBar onLeave={onLeave} />
    </section>
  );
}
