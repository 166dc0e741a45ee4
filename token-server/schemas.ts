import { z } from 'zod';
import type { FieldIssue } from './errors.ts';
import { LIMITS } from './options.ts';

// Control characters have no business in names and would garble logs and UIs.
const NO_CONTROL = /^[^\p{Cc}]*$/u;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

function text(max: number, { allowEmpty = false } = {}) {
  let s = z.string().max(max, `must be at most ${max} characters`);
  if (!allowEmpty) s = s.min(1, 'must not be empty');
  return s.regex(NO_CONTROL, 'must not contain control characters');
}

function sized(maxBytes: number) {
  return z.string().refine((s) => bytes(s) <= maxBytes, `must be at most ${maxBytes} bytes`);
}

const attributes = z
  .record(
    z
      .string()
      .min(1, 'attribute names must not be empty')
      .max(LIMITS.attributeKey, `attribute names must be at most ${LIMITS.attributeKey} characters`)
      .regex(NO_CONTROL, 'attribute names must not contain control characters')
      // `lk.*` attributes are LiveKit's own (agent state, transcription markers): a client setting
      // them could impersonate an agent in every frontend.
      .refine((k) => !k.startsWith('lk.'), 'attribute names starting with "lk." are reserved for LiveKit'),
    z.string(),
  )
  .refine((a) => Object.keys(a).length <= LIMITS.attributes, `at most ${LIMITS.attributes} attributes`)
  .refine(
    (a) => Object.entries(a).reduce((n, [k, v]) => n + bytes(k) + bytes(v), 0) <= LIMITS.attributesBytes,
    `attributes must total at most ${LIMITS.attributesBytes} bytes`,
  );

// JSON.parse makes "__proto__" an own key, which zod's record drops without a word: say so instead.
const attributesField = z
  .unknown()
  .refine(
    (v) => !(v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__')),
    'attribute name "__proto__" is not accepted',
  )
  .pipe(attributes);

/** One `RoomAgentDispatch` in protobuf JSON with proto field names, as the client SDKs send it. */
const agentDispatch = z.strictObject({
  agent_name: text(LIMITS.agentName),
  metadata: sized(LIMITS.agentMetadataBytes).optional(),
  deployment: text(LIMITS.deployment).optional(),
});

/**
 * `room_config`: only agent dispatch is client-configurable. Egress, timeouts, participant caps and
 * the like are the deployer's decisions, so naming them is a 400, as LiveKit's endpoint guide asks.
 */
const roomConfig = z.strictObject({
  agents: z.array(agentDispatch).max(LIMITS.agents, `at most ${LIMITS.agents} agents`).optional(),
});

/**
 * Body of `POST /livekit/token`: LiveKit's `TokenSourceRequest` in protobuf JSON with proto (snake_case)
 * field names, exactly what `TokenSource.endpoint` and the mobile SDKs send. Every field is optional.
 */
export const livekitTokenRequest = z.strictObject({
  // Empty means "not given" (a UI's blank field arrives as ""): the server generates one.
  room_name: text(LIMITS.roomName, { allowEmpty: true }).optional(),
  participant_identity: text(LIMITS.identity, { allowEmpty: true }).optional(),
  participant_name: text(LIMITS.name, { allowEmpty: true }).optional(),
  participant_metadata: sized(LIMITS.metadataBytes).optional(),
  participant_attributes: attributesField.optional(),
  room_config: roomConfig.optional(),
});

export type LiveKitTokenRequest = z.infer<typeof livekitTokenRequest>;

/**
 * Body of `POST /gemini/token`: empty (or `{}`). Model and config are the server's; there is nothing a
 * browser may choose, so any field is a 400 rather than silently ignored.
 */
export const geminiTokenRequest = z.strictObject({});

/** Flattens zod issues into `{field, message}` pairs a client developer can act on. */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => {
    const field = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') {
      const keys = i.keys.map((k) => (field ? `${field}.${k}` : k));
      return { field, message: `not accepted: ${keys.join(', ')}` };
    }
    if (i.code === 'invalid_type') {
      return { field, message: `expected ${i.expected}` };
    }
    return { field, message: i.message };
  });
}
