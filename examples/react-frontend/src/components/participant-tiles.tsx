import {
  ParticipantTile,
  type TrackReferenceOrPlaceholder,
  useAgent,
  useIsSpeaking,
  useSpeakingParticipants,
  useTracks,
} from '@livekit/components-react';
import { Track } from 'livekit-client';
import { ATTR_AGENT_FLOOR } from './agent-tile.tsx';
import { displayName } from './display-name.ts';

/** Every person's camera (a placeholder while it is off) and screen share; who is speaking. */
export function ParticipantTiles() {
  const tracks = useTracks(
    [
      { source: Track.Source.Camera, withPlaceholder: true },
      { source: Track.Source.ScreenShare, withPlaceholder: false },
    ],
    { onlySubscribed: false },
  );
  const agent = useAgent();
  const floor = agent.attributes[ATTR_AGENT_FLOOR] ?? '';
  const speaking = useSpeakingParticipants();
  return (
    <>
      <ul className="tiles" aria-label="Participants">
        {tracks
          .filter((ref) => !ref.participant.isAgent)
          .map((ref) => (
            <Tile key={`${ref.participant.identity}/${ref.source}`} trackRef={ref} floor={floor} />
          ))}
      </ul>
      <p className="speaking" data-testid="speaking" aria-live="polite">
        {speaking.length > 0 ? `Speaking: ${speaking.map(displayName).join(', ')}` : ' '}
      </p>
    </>
  );
}

function Tile({ trackRef, floor }: { trackRef: TrackReferenceOrPlaceholder; floor: string }) {
  const p = trackRef.participant;
  const isSpeaking = useIsSpeaking(p);
  return (
    <li
      className="tile"
      data-testid="tile"
      data-identity={p.identity}
      data-source={trackRef.source}
      data-local={p.isLocal}
      data-speaking={isSpeaking}
      data-floor={floor !== '' && floor === p.identity}
    >
      <ParticipantTile trackRef={trackRef} />
    </li>
  );
}
