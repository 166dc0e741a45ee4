import type { LiveConnectConfig } from '@google/genai';
import type { VideoGrant } from 'livekit-server-sdk';
import type { Logger } from 'pino';

/**
 * What a successful verifier learned about the caller. Returning `false`, `null` or `undefined` rejects
 * the request with 401.
 */
export interface AuthIdentity {
  /**
   * Stable id of the caller (user id, API client id). Used as the rate-limit key instead of the client
   * address, and logged instead of anything the caller sent.
   */
  subject?: string;
  /**
   * Forces the LiveKit participant identity. A request naming a different `participant_identity` is
   * refused with 403, so one signed-in user cannot join as another.
   */
  identity?: string;
  /**
   * Rooms this caller may join. A request for another room is refused with 403; a request naming none
   * gets the first. Unset: any room.
   */
  rooms?: string[];
}

/**
 * The deployer's own authentication: inspect the request (method, URL, headers, cookies; it carries no
 * body) and decide.
 */
export type AuthVerifier = (
  request: Request,
) => AuthIdentity | false | null | undefined | Promise<AuthIdentity | false | null | undefined>;

/**
 * Who may ask for tokens.
 * - `'none'`: anyone who can reach the server (local development only; logged as a warning at start).
 * - `{ bearer }`: requests must carry `Authorization: Bearer <bearer>` (compared in constant time).
 * - a function: the deployer's verifier, see {@link AuthVerifier}.
 */
export type AuthOption = 'none' | { bearer: string } | AuthVerifier;

/** Fixed-window request budget per client (authenticated subject, else client address). */
export interface RateLimitOptions {
  /** Requests one client may make to the token endpoints per window. */
  max: number;
  /** Window length in milliseconds. */
  windowMs: number;
}

/** Options of {@link startTokenServer}. Only what is needed to sign is required, and even that has defaults. */
export interface TokenServerOptions {
  /** TCP port; `0` picks a free one (read it back from `url`). Default `0`. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1`; use `0.0.0.0` behind a proxy/in a container. */
  host?: string;
  /**
   * LiveKit server URL clients connect to, returned as `server_url`. Default: `ws://HOST:PORT` from
   * `livekit.yaml`.
   */
  livekitUrl?: string;
  /** LiveKit API key that signs participant tokens. Default: first key in `livekit.yaml`. */
  apiKey?: string;
  /** LiveKit API secret for {@link apiKey}. Never returned or logged. Default: from `livekit.yaml`. */
  apiSecret?: string;
  /**
   * Gemini runs on Vertex AI (the SDK's `vertexai`; the CLI reads `GOOGLE_GENAI_USE_VERTEXAI` /
   * `GOOGLE_GENAI_USE_ENTERPRISE`). Vertex AI has no ephemeral tokens, so `POST /gemini/token` answers
   * 501 `ephemeral_tokens_unavailable` with the reason. Default false.
   */
  vertexai?: boolean;
  /** Gemini Developer API key that mints ephemeral tokens. Unset: `POST /gemini/token` answers 503. */
  geminiApiKey?: string;
  /**
   * Base URL of the Gemini API (the local emulator). Unset: Google. Also returned to browsers as
   * `base_url` so they connect to the same service the token was minted on.
   */
  geminiBaseUrl?: string;
  /** Live model locked into every ephemeral token. Default: the catalogue's `DEFAULT_LIVE_MODEL` (`gemini-3.8-live`). */
  model?: string;
  /**
   * Live session config locked into every ephemeral token (`liveConnectConstraints.config`). Default
   * `{ responseModalities: [AUDIO] }`.
   */
  liveConfig?: LiveConnectConfig;
  /**
   * Extra `LiveConnectConfig` fields to lock beyond those set in {@link liveConfig} (`lockAdditionalFields`
   * of `authTokens.create`). Default `[]`: the field mask locks exactly the model and the fields set in
   * `liveConfig`; the browser may choose the rest (e.g. transcription).
   */
  lockAdditionalFields?: string[];
  /**
   * Agent dispatched (through the token's `roomConfig.agents`) when a request names none. Unset: no
   * explicit dispatch; LiveKit's automatic dispatch applies.
   */
  agentName?: string;
  /**
   * Agent names a request may ask to dispatch (`room_config.agents[].agent_name`); others are refused
   * with 403 `agent_not_allowed`. Default: only {@link agentName}, or none when it is unset (a client
   * cannot summon a named agent the deployer did not offer).
   */
  allowedAgents?: string[];
  /**
   * Top-level keys of a JSON object a client may send as an agent's dispatch metadata
   * (`room_config.agents[].metadata`), e.g. `['voice', 'language']`. The agent lets dispatch metadata
   * override its room settings, so by default (`[]`) any client metadata is refused with 403
   * `agent_metadata_not_allowed`: model, instructions and tools stay the deployer's. With keys listed,
   * the metadata must be a JSON object of only those keys (≤ 4096 bytes). `agent` cannot be listed (it
   * nests every setting).
   */
  agentMetadataKeys?: string[];
  /** Who may ask for tokens. Default `'none'` (logged as a warning). */
  auth?: AuthOption;
  /**
   * Browser origins allowed to call the token endpoints (exact `scheme://host[:port]`, or `'*'`). Requests
   * carrying any other `Origin` are refused with 403. The server's own origins — `http://` + `127.0.0.1`,
   * `localhost`, `[::1]` or the {@link host} it binds, on the port it listens on — are always allowed, so
   * `[]` means same-origin only; the `Host` header never widens them (DNS rebinding). Pages this server
   * serves under a public name (behind a proxy) need that origin listed. Default: loopback pages
   * (`http(s)://localhost:*`, `127.0.0.1:*`, `[::1]:*`).
   */
  corsOrigins?: string[];
  /**
   * Host names this server answers to besides IP addresses and `localhost`/`*.localhost` (which cannot be
   * rebound): `tokens.example.com`, or `.example.com` for it and its subdomains; `'*'` turns the check
   * off. A request with any other `Host` header gets 403 `host_not_allowed` on every route, which stops
   * DNS-rebinding pages. Behind a proxy or ingress, list the public name. Default: none.
   */
  allowedHosts?: string[];
  /** Per-client budget for the token endpoints; `false` disables it. Default 30 requests per minute. */
  rateLimit?: RateLimitOptions | false;
  /**
   * Take the client address from the last `X-Forwarded-For` entry, the one a single reverse proxy in
   * front of the server appends (only enable behind such a proxy). Default `false`: the socket's address.
   */
  trustProxy?: boolean;
  /** Largest accepted request body in bytes; larger ones get 413. Default 16 KiB. */
  maxBodyBytes?: number;
  /** Lifetime of LiveKit participant tokens (they only gate the initial join). Default 600 s. */
  livekitTokenTtlSeconds?: number;
  /**
   * Grants in every LiveKit token besides `roomJoin` + `room` (always set to the one requested room).
   * Default `{ canPublish: true, canSubscribe: true, canPublishData: true }`.
   */
  grants?: Omit<VideoGrant, 'room' | 'roomJoin'>;
  /** How long messages on a session opened with an ephemeral token are accepted (`expireTime`). Default 1800 s. */
  geminiTokenTtlSeconds?: number;
  /** How long an ephemeral token may open its session (`newSessionExpireTime`). Default 60 s. */
  geminiNewSessionTtlSeconds?: number;
  /** Deadline of one ephemeral-token request to Gemini; past it the client gets 502. Default 10000 ms. */
  geminiTimeoutMs?: number;
  /**
   * Longest a client may take to send one whole request, headers and body (slow-client protection);
   * past it the client gets 408 and the connection is closed. Also how long `close()` lets in-flight
   * requests finish. Default 15000 ms.
   */
  requestTimeoutMs?: number;
  /**
   * Longest a client may take to send the request headers (408 and closed past it); capped at
   * {@link requestTimeoutMs}. Default 10000 ms.
   */
  headersTimeoutMs?: number;
  /** Directory of static files served at `/` (e.g. the built web demo). Unset: nothing is served. */
  staticDir?: string;
  /** Logger (pino). Default: pino at `info` on stderr, so stdout stays for the URL line. */
  logger?: Logger;
}

/** Field limits of `POST /livekit/token`, shared by the schema and its error messages. */
export const LIMITS = {
  roomName: 128,
  identity: 128,
  name: 128,
  metadataBytes: 4096,
  attributes: 32,
  attributeKey: 64,
  attributesBytes: 4096,
  agents: 4,
  agentName: 128,
  agentMetadataBytes: 4096,
  deployment: 128,
} as const;
