import { RoomAudioRenderer, SessionProvider, StartAudio, useSession } from '@livekit/components-react';
import { ConnectionState, TokenSource, type TokenSourceFetchOptions } from 'livekit-client';
import { useCallback, useMemo, useState } from 'react';
import { initialChoices, type JoinChoices, TOKEN_ENDPOINT } from './app-config.ts';
import { SessionView } from './components/session-view.tsx';
import { Welcome } from './components/welcome.tsx';

// One token source for the page's lifetime: it caches the token until the options change.
const tokenSource = TokenSource.endpoint(TOKEN_ENDPOINT);

/** Only what the user chose: a key present with `undefined` would still reach the request. */
function fetchOptions(c: JoinChoices): TokenSourceFetchOptions {
  return {
    ...(c.room && { roomName: c.room }),
    ...(c.name && { participantName: c.name }),
    ...(c.agent && { agentName: c.agent }),
  };
}

export function App() {
  const [choices, setChoices] = useState(initialChoices);
  const options = useMemo(() => fetchOptions(choices), [choices]);
  const session = useSession(tokenSource, options);
  const [error, setError] = useState<string | null>(null);

  const start = useCallback(async () => {
    setError(null);
    try {
      // Publishes the microphone with LiveKit's pre-connect buffer, connects, and (when the token
      // dispatches an agent by name) waits for it: the agent state shows progress meanwhile.
      await session.start();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      // A room that connected stays (e.g. only the microphone failed: chat still works); a start that
      // never got there releases the microphone it may have opened.
      if (session.room.state !== ConnectionState.Connected) await session.end();
    }
  }, [session]);

  const inSession = session.connectionState !== ConnectionState.Disconnected;
  return (
    <main className="app" data-lk-theme="default">
      {inSession ? (
        <SessionProvider session={session}>
          <SessionView onLeave={() => session.end()} error={error} />
          <RoomAudioRenderer />
          <StartAudio label="Allow audio" className="start-audio" />
        </SessionProvider>
      ) : (
        <Welcome choices={choices} onChange={setChoices} onStart={start} error={error} />
      )}
    </main>
  );
}
