// Which agents a client's token may dispatch, and what it may tell them.
//
// The agent reads its per-room settings (model, system instruction, tools, Google Search, …) from room
// metadata and then from dispatch metadata, the latter winning. A token's `roomConfig.agents[].metadata`
// is dispatch metadata, so passing a client's value through would let any browser configure the agent.
// By default clients therefore send none; a deployer may allow a few harmless top-level keys (a voice, a
// language). Server-side dispatch (AgentDispatchService, room metadata set by a backend) is untouched.
import { RoomAgentDispatch } from '@livekit/protocol';
import { HttpError } from './errors.ts';
import type { LiveKitTokenRequest } from './schemas.ts';

/** The deployer's rules, resolved from the server options. */
export interface AgentDispatchPolicy {
  /** Dispatched when a request names no agent. */
  defaultAgent: string | undefined;
  /** Agent names a request may dispatch (empty: none). */
  allowedAgents: ReadonlySet<string>;
  /** Top-level JSON keys a client may set in an agent's metadata (empty: no client metadata). */
  metadataKeys: ReadonlySet<string>;
}

type RequestedAgent = NonNullable<NonNullable<LiveKitTokenRequest['room_config']>['agents']>[number];

/**
 * Checks a deployer's list of client-settable metadata keys at start-up. `agent` is refused: the agent
 * takes a whole settings object nested under it, so allowing it would allow every setting.
 */
export function checkMetadataKeys(keys: readonly string[]): void {
  for (const k of keys) {
    if (!k.trim()) throw new Error('agentMetadataKeys: keys must not be empty');
    if (k === 'agent') {
      throw new Error('agentMetadataKeys: "agent" would let clients set every agent setting; list the keys');
    }
  }
}

/**
 * The dispatches a token carries: the client's explicit list (even empty) when it sent one, else the
 * default agent. Throws a 403/400 {@link HttpError} for an agent or metadata the policy does not allow.
 */
export function resolveAgentDispatches(
  policy: AgentDispatchPolicy,
  requested: readonly RequestedAgent[] | undefined,
): RoomAgentDispatch[] {
  if (requested === undefined) {
    return policy.defaultAgent ? [new RoomAgentDispatch({ agentName: policy.defaultAgent })] : [];
  }
  return requested.map((a, i) => {
    if (!policy.allowedAgents.has(a.agent_name)) {
      throw new HttpError(403, 'agent_not_allowed', `agent "${a.agent_name}" may not be dispatched`);
    }
    return new RoomAgentDispatch({
      agentName: a.agent_name,
      metadata: clientMetadata(policy.metadataKeys, a.metadata, `room_config.agents.${i}.metadata`),
      deployment: a.deployment ?? '',
    });
  });
}

/** The metadata to sign for one dispatch: `''`, or the client's JSON object re-serialised. */
function clientMetadata(allowed: ReadonlySet<string>, metadata: string | undefined, field: string): string {
  if (metadata === undefined || metadata.trim() === '') return '';
  if (allowed.size === 0) {
    throw new HttpError(
      403,
      'agent_metadata_not_allowed',
      `${field}: clients may not send agent metadata; the agent's settings are the deployer's (agentMetadataKeys allows chosen keys)`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(metadata);
  } catch {
    value = undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    const message = 'must be a JSON object';
    throw new HttpError(400, 'invalid_request', `${field}: ${message}`, { issues: [{ field, message }] });
  }
  // Own keys only (JSON.parse makes "__proto__" an own key too), looked up in a Set, never on an object.
  const refused = Object.keys(value).filter((k) => !allowed.has(k));
  if (refused.length) {
    throw new HttpError(
      403,
      'agent_metadata_not_allowed',
      `${field}: keys not allowed: ${refused.slice(0, 8).join(', ')} (allowed: ${[...allowed].join(', ')})`,
    );
  }
  // Re-serialised, so what the agent parses is exactly what was checked (no duplicate keys).
  return JSON.stringify(value);
}
