import type { Participant } from 'livekit-client';

/** A participant's name; agents usually have none, and their identity (`agent-AJ_…`) means nothing to users. */
export function displayName(p: Participant): string {
  return p.name || (p.isAgent ? 'Agent' : p.identity);
}
