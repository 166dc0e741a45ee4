// Where the page gets its LiveKit token and which agent it asks for. Fixed at build/dev time (Vite
// inlines `import.meta.env.VITE_*`): a link must not be able to point the page, and the user's
// microphone, at another token server.

/** LiveKit's standard token endpoint on our token server. */
export const TOKEN_ENDPOINT = `${(import.meta.env.VITE_TOKEN_SERVER_URL || 'http://127.0.0.1:8090').replace(/\/+$/, '')}/livekit/token`;

export interface JoinChoices {
  /** Display name; empty lets the token server choose none. */
  name: string;
  /** Room to join; empty lets the token server pick a fresh `room-<random>`. */
  room: string;
  /** Agent to dispatch by name; empty means automatic dispatch (the default `npm start` worker). */
  agent: string;
}

/** Defaults from the build, then `?name=…&room=…&agent=…` (the token server decides what is allowed). */
export function initialChoices(search = window.location.search): JoinChoices {
  const q = new URLSearchParams(search);
  return {
    name: q.get('name') ?? '',
    room: q.get('room') ?? '',
    agent: q.get('agent') ?? import.meta.env.VITE_AGENT_NAME ?? '',
  };
}
