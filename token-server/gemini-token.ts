import { GoogleGenAI, type LiveConnectConfig } from '@google/genai';

/** Ephemeral tokens exist only on this API version, and a browser must connect with the same one. */
export const GEMINI_TOKEN_API_VERSION = 'v1alpha';

/**
 * Body of a `201` from `POST /gemini/token`: what a browser needs to open one Live session with
 * `new GoogleGenAI({ apiKey: token, httpOptions: { apiVersion: api_version, baseUrl: base_url } })
 * .live.connect({ model, ... })`.
 */
export interface GeminiTokenResponse {
  /** The ephemeral token (`auth_tokens/…`), used in place of an API key. Valid for one session. */
  token: string;
  /** Model locked into the token; pass it to `live.connect`. */
  model: string;
  /** API version the token works on (`v1alpha`). */
  api_version: typeof GEMINI_TOKEN_API_VERSION;
  /** Base URL of the Gemini service that minted it; absent for Google's default endpoint. */
  base_url?: string;
  /** Sessions opened with the token: 1. */
  uses: number;
  /** RFC 3339 time after which the session's messages are rejected. */
  expire_time: string;
  /** RFC 3339 time after which the token can no longer open a session. */
  new_session_expire_time: string;
}

/** Everything the Gemini minter needs, resolved from the server options. */
export interface GeminiMinterConfig {
  apiKey: string;
  baseUrl: string | undefined;
  model: string;
  liveConfig: LiveConnectConfig;
  lockAdditionalFields: string[];
  ttlSeconds: number;
  newSessionTtlSeconds: number;
}

/** Mints single-use Live API tokens with the server's model and config locked in. */
export class GeminiMinter {
  readonly #cfg: GeminiMinterConfig;
  readonly #ai: GoogleGenAI;

  constructor(cfg: GeminiMinterConfig) {
    this.#cfg = cfg;
    this.#ai = new GoogleGenAI({
      apiKey: cfg.apiKey,
      httpOptions: { apiVersion: GEMINI_TOKEN_API_VERSION, ...(cfg.baseUrl ? { baseUrl: cfg.baseUrl } : {}) },
    });
  }

  async mint(signal?: AbortSignal): Promise<GeminiTokenResponse> {
    const now = Date.now();
    const expireTime = new Date(now + this.#cfg.ttlSeconds * 1000).toISOString();
    const newSessionExpireTime = new Date(now + this.#cfg.newSessionTtlSeconds * 1000).toISOString();
    const uses = 1;
    const token = await this.#ai.authTokens.create({
      config: {
        uses,
        expireTime,
        newSessionExpireTime,
        liveConnectConstraints: { model: this.#cfg.model, config: this.#cfg.liveConfig },
        lockAdditionalFields: this.#cfg.lockAdditionalFields,
        ...(signal ? { abortSignal: signal } : {}),
      },
    });
    if (!token.name) throw new Error('auth_tokens response has no token name');
    const response: GeminiTokenResponse = {
      token: token.name,
      model: this.#cfg.model,
      api_version: GEMINI_TOKEN_API_VERSION,
      uses,
      expire_time: expireTime,
      new_session_expire_time: newSessionExpireTime,
    };
    if (this.#cfg.baseUrl) response.base_url = this.#cfg.baseUrl;
    return response;
  }
}
