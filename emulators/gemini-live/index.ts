/**
 * Local, protocol-faithful stand-in for the Gemini Live API. The real `@google/genai` SDK connects to
 * it unchanged: `new GoogleGenAI({ apiKey, httpOptions: { baseUrl: emulator.url } })`.
 *
 * Default model behaviour (no scenario): an audio utterance is spoken back (the "echo"), transcribed as
 * `[speech 1.2s]` (the emulator cannot recognise words; the transcript carries the utterance length,
 * one decimal); a text input gets `You said "TEXT". That is turn N of this conversation.` as synthetic
 * speech (or text in TEXT modality). See scenario.ts for scripted behaviour.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type GeminiEmulatorOptions, resolveOptions } from './options.ts';
import { ResumptionStore } from './resumption.ts';
import { type ParsedScenario, parseScenario, type Scenario } from './scenario.ts';
import { createEmulatorServer } from './server.ts';
import type { LiveSession } from './session.ts';
import type { SessionStats } from './stats.ts';
import { TokenStore } from './tokens.ts';
import { type AccessToken, INVALID_CREDENTIALS, type ServiceAccountKey, VertexAuth } from './vertex-auth.ts';

export {
  DEFAULT_LIMITS,
  DEFAULT_MODEL,
  type EmulatorLimits,
  type GeminiEmulatorOptions,
  KNOWN_MODELS,
  type Pacing,
} from './options.ts';
export { INPUT_RATE, type ModelProfile, OUTPUT_RATE } from './profiles.ts';
export {
  loadScenario,
  parseScenario,
  type Responder,
  type Scenario,
  type ScenarioTurn,
  type Step,
  type TurnContext,
} from './scenario.ts';
export { LiveSession } from './session.ts';
export type { SessionStats, TurnRecord } from './stats.ts';
export type { AccessToken, ServiceAccountKey } from './vertex-auth.ts';
export { VOICES, voicePitch } from './voices.ts';

/** The emulator's Google Cloud side: service accounts, the OAuth2 token endpoint, access tokens. */
export interface VertexCredentials {
  /** `URL/token`: the OAuth2 token endpoint (the `token_uri` of the key files it mints). */
  readonly tokenUrl: string;
  /**
   * Mints a service account and returns its key file (JSON as the Cloud console downloads it, with
   * `token_uri` = {@link tokenUrl}). The emulator keeps only its public key, to verify its assertions.
   */
  serviceAccount(o?: { project?: string; name?: string }): ServiceAccountKey;
  /** Deletes a service account: its grants are refused (`invalid_grant`), its tokens stop working. */
  deleteServiceAccount(email: string): void;
  /** Issues an access token directly (tests: `ttlMs <= 0` gives an expired one). */
  issueToken(email: string, ttlMs?: number): AccessToken;
  /**
   * Revokes an access token (also `POST /revoke?token=`): the upgrade refuses it (401) from now on, and
   * the sessions it opened are closed 1007 (no Vertex behaviour is documented for this; see README).
   */
  revoke(token: string): boolean;
}

export interface GeminiEmulatorEvents {
  /** A WebSocket connected (before setup). */
  session: [LiveSession];
  /** A connection ended; its stats are final. */
  sessionClosed: [SessionStats];
}

export interface GeminiEmulator extends EventEmitter<GeminiEmulatorEvents> {
  /** `http://HOST:PORT`: pass as `httpOptions.baseUrl` or `GOOGLE_GEMINI_BASE_URL`. */
  readonly url: string;
  readonly port: number;
  /** Stats of every connection so far (open and closed, the most recent 1000 closed ones). */
  stats(): SessionStats[];
  /** Connections that are open now. */
  sessions(): LiveSession[];
  /** An open connection by id. */
  session(id: string): LiveSession | undefined;
  /** Resolves with the next connection that completes setup (optionally matching `filter`). */
  nextSession(filter?: (s: LiveSession) => boolean, signal?: AbortSignal): Promise<LiveSession>;
  /**
   * Replaces the scenario for turns that start from now on (turn numbering continues; a scenario's
   * turn N still means the conversation's N-th user turn). `undefined` restores the default behaviour.
   */
  setScenario(scenario: Scenario | undefined): void;
  /** Forgets every resumption handle (they become stale → 1008 on use). */
  expireResumptionHandles(): void;
  /** Vertex AI credentials (the `LlmBidiService` endpoint takes only their access tokens). */
  readonly vertex: VertexCredentials;
  /** Closes every connection (1001) and the server. */
  close(): Promise<void>;
}

const KEEP_CLOSED = 1000;
const CLOSE_GRACE_MS = 1000;

class Emulator extends EventEmitter<GeminiEmulatorEvents> implements GeminiEmulator {
  url = '';
  port = 0;
  #open = new Map<string, LiveSession>();
  #closed: SessionStats[] = [];
  #handles: ResumptionStore;
  #server: ReturnType<typeof createEmulatorServer>;
  #options: ReturnType<typeof resolveOptions>;
  #scenario: ParsedScenario | undefined;
  #auth: VertexAuth;
  readonly vertex: VertexCredentials;

  constructor(options: GeminiEmulatorOptions) {
    super();
    this.#options = resolveOptions(options);
    this.#scenario = options.scenario ? parseScenario(options.scenario) : undefined;
    this.#handles = new ResumptionStore(this.#options.limits.resumptionHandleTtlMs);
    this.#auth = new VertexAuth({ accessTokenTtlMs: this.#options.limits.accessTokenTtlMs });
    const auth = this.#auth;
    const emulator = this;
    this.vertex = {
      get tokenUrl() {
        return `${emulator.url}/token`;
      },
      serviceAccount: (o) => auth.createServiceAccount(`${this.url}/token`, o),
      deleteServiceAccount: (email) => {
        auth.deleteServiceAccount(email);
        for (const s of this.#open.values()) {
          const t = s.accessToken;
          if (t && auth.checkBearer(`Bearer ${t}`).ok === false) s.close(1007, INVALID_CREDENTIALS);
        }
      },
      issueToken: (email, ttlMs) => auth.issue(email, ttlMs),
      revoke: (token) => {
        const known = auth.revoke(token);
        if (known) this.#endSessionsOf(token);
        return known;
      },
    };
    this.#server = createEmulatorServer({
      options: this.#options,
      scenario: () => this.#scenario,
      tokens: new TokenStore(),
      handles: this.#handles,
      vertex: this.#auth,
      onSession: (s) => this.#track(s),
      onRevoke: (token) => this.#endSessionsOf(token),
    });
  }

  /** Sessions opened with a revoked access token end: their credentials are no longer valid. */
  #endSessionsOf(token: string): void {
    for (const s of this.#open.values()) if (s.accessToken === token) s.close(1007, INVALID_CREDENTIALS);
  }

  async listen(): Promise<void> {
    const { http } = this.#server;
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.#options.port, this.#options.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.port = (http.address() as AddressInfo).port;
    const host = this.#options.host.includes(':') ? `[${this.#options.host}]` : this.#options.host;
    this.url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${this.port}`;
  }

  #track(s: LiveSession): void {
    this.#open.set(s.id, s);
    s.once('closed', (stats) => {
      this.#open.delete(s.id);
      this.#closed.push(stats);
      if (this.#closed.length > KEEP_CLOSED) this.#closed.shift();
      this.emit('sessionClosed', stats);
    });
    this.emit('session', s);
  }

  stats(): SessionStats[] {
    return [...this.#closed, ...[...this.#open.values()].map((s) => s.stats)].sort(
      (a, b) => a.openedAt - b.openedAt,
    );
  }

  sessions(): LiveSession[] {
    return [...this.#open.values()];
  }

  session(id: string): LiveSession | undefined {
    return this.#open.get(id);
  }

  nextSession(filter: (s: LiveSession) => boolean = () => true, signal?: AbortSignal): Promise<LiveSession> {
    return new Promise((resolve, reject) => {
      const onSession = (s: LiveSession) => {
        s.once('ready', () => {
          if (!filter(s)) return;
          this.off('session', onSession);
          resolve(s);
        });
      };
      this.on('session', onSession);
      signal?.addEventListener(
        'abort',
        () => {
          this.off('session', onSession);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  setScenario(scenario: Scenario | undefined): void {
    this.#scenario = scenario ? parseScenario(scenario) : undefined;
  }

  expireResumptionHandles(): void {
    this.#handles.expireAll();
  }

  async close(): Promise<void> {
    for (const s of this.#open.values()) s.close(1001, 'Server shutting down.');
    const { http, wss } = this.#server;
    // Give clients a moment to answer the close frames, then drop whoever did not (ws would otherwise
    // wait 30 s per socket before giving up).
    const sockets = [...wss.clients];
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(
        sockets.map((ws) => new Promise((r) => (ws.readyState === ws.CLOSED ? r(0) : ws.once('close', r)))),
      ),
      new Promise((r) => {
        grace = setTimeout(r, CLOSE_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => {
      wss.close(() => resolve());
    });
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      http.closeAllConnections();
    });
  }
}

/** Starts an emulator; resolves once it listens. */
export async function start(options: GeminiEmulatorOptions = {}): Promise<GeminiEmulator> {
  const emulator = new Emulator(options);
  await emulator.listen();
  return emulator;
}
