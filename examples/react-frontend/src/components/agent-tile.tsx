import { BarVisualizer, useAgent, useParticipants, useVoiceAssistant } from '@livekit/components-react';
import { displayName } from './display-name.ts';

/** Set by our agent next to `lk.agent.state = failed`: why it cannot talk. */
const ATTR_AGENT_ERROR = 'lk.agent.error';
/** Set by our agent in `floor` rooms: identity of the participant it listens to ('' when free). */
export const ATTR_AGENT_FLOOR = 'lk.agent.floor';

/**
 * The agent: its state (`useAgent`, which adds `connecting`, `pre-connect-buffering` and `failed` with
 * LiveKit's reasons to the agent's own `lk.agent.state`), its voice (`BarVisualizer` on the track
 * `useVoiceAssistant` finds) and who holds the floor.
 */
export function AgentTile() {
  const agent = useAgent();
  const assistant = useVoiceAssistant();
  const participants = useParticipants();
  const attributes = assistant.agentAttributes ?? agent.attributes;
  const floor = attributes[ATTR_AGENT_FLOOR] ?? '';
  const floorHolder = participants.find((p) => p.identity === floor);
  // LiveKit's own reasons (timeouts, the agent leaving) first, then the one our agent publishes.
  const reasons =
    agent.state === 'failed'
      ? [...(agent.failureReasons ?? []), attributes[ATTR_AGENT_ERROR]].filter((r): r is string => !!r)
      : [];
  const name = assistant.agent ? displayName(assistant.agent) : 'Agent';
  return (
    <article
      className="agent-tile"
      data-testid="agent-tile"
      data-agent-state={agent.state}
      data-va-state={assistant.state}
      data-identity={assistant.agent?.identity ?? ''}
      data-floor={floor}
      aria-label={`${name}: ${agent.state}`}
    >
      <BarVisualizer
        state={agent.state}
        track={agent.microphoneTrack ?? assistant.audioTrack}
        barCount={5}
        options={{ minHeight: 12 }}
        className="agent-visualizer"
        data-testid="agent-visualizer"
      />
      <div className="agent-caption">
        <strong>{name}</strong>
        <span className="agent-state" role="status" data-testid="agent-state">
          {agent.state}
        </span>
      </div>
      {floor && (
        <p className="floor" data-testid="floor">
          Listening to {floorHolder ? displayName(floorHolder) : floor}
        </p>
      )}
      {reasons.length > 0 && (
        <ul className="error" role="alert" data-testid="agent-failure">
          {reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
    </article>
  );
}
