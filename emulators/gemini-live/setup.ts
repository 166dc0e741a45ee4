/**
 * The first message of a connection: authentication (API key or ephemeral token, with the token's
 * locked fields applied) and validation of the setup against the model's profile. Pure decisions; the
 * session turns a refusal into its close code.
 */
import {
  type Backend,
  checkSetup,
  effectiveBehavior,
  type LiveModelSpec,
  refusalMessage,
  type SetupIssue,
  settingsFromSetup,
} from '../../shared/gemini-models/index.ts';
import type { ResolvedOptions } from './options.ts';
import { type ModelProfile, profileFor, VERTEX_MODELS } from './profiles.ts';
import { type Setup, setupSchema } from './protocol.ts';
import { type AuthToken, applyConstraints, type TokenStore } from './tokens.ts';

/** Where and how the client connected (from the URL). */
export interface Route {
  /** Which service's endpoint the client connected to. */
  backend: Backend;
  apiVersion: string;
  /** `BidiGenerateContentConstrained` (ephemeral token) rather than `BidiGenerateContent`. */
  constrained: boolean;
  /** `key` or `access_token` query value (Gemini API). */
  credential: string | undefined;
  /** Vertex AI: the OAuth access token checked on the upgrade (sessions end when it is revoked). */
  accessToken?: string;
}

/** What a session runs with, decided once from its setup (tools may change with `contextUpdate`). */
export interface SessionConfig {
  model: string;
  profile: ModelProfile;
  textOutput: boolean;
  voice: string;
  inputTranscription: boolean;
  outputTranscription: boolean;
  interrupts: boolean;
  manualActivity: boolean;
  resumption: boolean;
  /** `historyConfig.initialHistoryInClientContent`: `clientContent` before realtime input is history. */
  initialHistory: boolean;
  compression: { trigger: number; target: number } | undefined;
  /** Effective behaviour per function name (declared if the model honours it, else its default). */
  tools: Map<string, 'BLOCKING' | 'NON_BLOCKING'>;
  /** Tokens per video frame at the setup's `mediaResolution`. */
  videoFrameTokens: number;
  /** Settings the model does not support but the service accepts without error: ignored. */
  ignored: SetupIssue[];
  /**
   * Proactive audio is on (always on 3.8; opt-in elsewhere): the model may choose not to answer input
   * that is not addressed to it. The emulator's stand-in for that judgement: see `Input.clientContent`.
   */
  proactiveAudio: boolean;
}

/** A refusal: the close code and reason the service would send. */
export interface Refusal {
  code: number;
  reason: string;
}

export type Authenticated =
  | { ok: true; setup: Setup; token: AuthToken | undefined }
  | ({ ok: false } & Refusal);

/**
 * Checks the credential of the route. On the Constrained path the token is consumed (resumptions are
 * free) and its constraints decide the setup the session runs with.
 */
export function authenticate(
  route: Route,
  clientSetup: Setup,
  options: ResolvedOptions,
  tokens: TokenStore,
): Authenticated {
  // Vertex AI: the bearer token was checked on the HTTP upgrade (server.ts).
  if (route.backend === 'vertex') return { ok: true, setup: clientSetup, token: undefined };
  if (route.constrained) {
    if (!route.credential) {
      return { ok: false, code: 1007, reason: 'Missing access_token for the constrained endpoint.' };
    }
    const check = tokens.use(route.credential, Boolean(clientSetup.sessionResumption?.handle));
    if (!check.ok) return { ok: false, code: 1007, reason: check.reason };
    const merged = setupSchema.safeParse(applyConstraints(clientSetup, check.token));
    if (!merged.success) {
      return { ok: false, code: 1007, reason: 'Invalid setup after applying the token constraints.' };
    }
    return { ok: true, setup: merged.data, token: check.token };
  }
  if (
    !route.credential ||
    route.credential.startsWith('auth_tokens/') ||
    (options.apiKey !== undefined && route.credential !== options.apiKey)
  ) {
    return { ok: false, code: 1007, reason: 'API key not valid. Please pass a valid API key.' };
  }
  return { ok: true, setup: clientSetup, token: undefined };
}

/**
 * Whose session this is, for resumption: the API key on the Gemini API, the project on Vertex (Vertex
 * keeps resumption data under project-level privacy). Ephemeral tokens name no key here: undefined.
 */
export function ownerOf(route: Route, setup: Setup): string | undefined {
  if (route.backend === 'vertex') return /^projects\/([^/]+)\//.exec(setup.model)?.[1];
  return route.constrained ? undefined : route.credential;
}

/** Validates a setup against its model's profile and derives the session's configuration. */
export function configure(
  setup: Setup,
  route: Route,
  options: ResolvedOptions,
): { ok: true; config: SessionConfig } | ({ ok: false } & Refusal) {
  const vertex = route.backend === 'vertex';
  // Vertex names a publisher model (`projects/P/locations/L/publishers/google/models/M`, as the SDK
  // sends it); the Gemini API `models/M`.
  const model = vertex ? vertexModel(setup.model) : setup.model.replace(/^models\//, '');
  const profile = model === undefined ? undefined : profileFor(model, route.backend);
  const known = vertex ? VERTEX_MODELS.has(model ?? '') : options.models.has(model ?? '');
  if (model === undefined || !profile || !known || !profile.spec.apiVersions.includes(route.apiVersion)) {
    return {
      ok: false,
      code: 1008,
      reason: vertex
        ? `Publisher model ${setup.model} is not found or not supported for BidiGenerateContent.`
        : `models/${model} is not found for API version ${route.apiVersion}, or is not supported for bidiGenerateContent.`,
    };
  }
  const issues = checkSetup(profile.spec, settingsFromSetup(setup, route.apiVersion));
  const refused = issues.find((i) => i.severity === 'refuse');
  if (refused) return { ok: false, code: 1007, reason: refusalMessage(refused) };
  const gen = setup.generationConfig;
  const voiceName = gen?.speechConfig?.voiceConfig?.prebuiltVoiceConfig?.voiceName;
  const voice =
    voiceName === undefined
      ? profile.defaultVoice
      : profile.voices.find((v) => v.toLowerCase() === voiceName.toLowerCase());
  if (!voice) return { ok: false, code: 1007, reason: `Voice ${voiceName} is not supported.` };
  const modalities = gen?.responseModalities ?? ['AUDIO'];
  if (modalities.length > profile.maxResponseModalities) {
    return { ok: false, code: 1007, reason: 'Only one response modality is supported per session.' };
  }

  const cwc = setup.contextWindowCompression;
  const trigger = cwc?.triggerTokens ?? Math.floor(profile.spec.inputTokenLimit * 0.8);
  const rtc = setup.realtimeInputConfig;
  return {
    ok: true,
    config: {
      model,
      profile,
      textOutput: modalities[0] === 'TEXT',
      voice,
      inputTranscription: setup.inputAudioTranscription !== undefined,
      outputTranscription: setup.outputAudioTranscription !== undefined,
      interrupts: rtc?.activityHandling !== 'NO_INTERRUPTION',
      manualActivity: rtc?.automaticActivityDetection?.disabled === true,
      resumption: setup.sessionResumption !== undefined,
      initialHistory: setup.historyConfig?.initialHistoryInClientContent === true,
      compression: cwc
        ? { trigger, target: cwc.slidingWindow?.targetTokens ?? Math.floor(trigger / 2) }
        : undefined,
      tools: toolBehaviours(setup.tools, profile.spec),
      videoFrameTokens: frameTokens(profile.spec, gen?.mediaResolution),
      ignored: issues,
      proactiveAudio: proactiveAudioOn(profile.spec.proactiveAudio, setup.proactivity),
    },
  };
}

/** Whether proactive audio is on for a session: the model's support and the setup's `proactivity`. */
function proactiveAudioOn(support: string, proactivity: Record<string, unknown> | undefined): boolean {
  const asked = proactivity?.proactiveAudio;
  if (support === 'always') return true;
  if (support === 'default-on') return asked !== false;
  return support !== 'unsupported' && asked === true;
}

/** The model id of a Vertex publisher-model name; `undefined` for another publisher or a bare id. */
export function vertexModel(name: string): string | undefined {
  const m = /^(?:projects\/[^/]+\/locations\/[^/]+\/)?publishers\/google\/models\/([^/]+)$/.exec(name.trim());
  return m?.[1];
}

/** Effective behaviour per function name on this model (a Map: names come from the client). */
export function toolBehaviours(
  tools: Setup['tools'],
  spec: LiveModelSpec,
): Map<string, 'BLOCKING' | 'NON_BLOCKING'> {
  const out = new Map<string, 'BLOCKING' | 'NON_BLOCKING'>();
  for (const t of tools ?? []) {
    for (const f of t.functionDeclarations ?? []) out.set(f.name, effectiveBehavior(spec, f.behavior));
  }
  return out;
}

/** Tokens one video frame costs at `mediaResolution` (unset or unspecified: the model's default). */
export function frameTokens(spec: LiveModelSpec, mediaResolution: string | undefined): number {
  const rates = spec.tokens.videoFrame;
  return Object.hasOwn(rates, mediaResolution ?? '')
    ? rates[mediaResolution as keyof typeof rates]
    : rates.default;
}

export function instructionText(content: Setup['systemInstruction']): string {
  return (content?.parts ?? []).map((p) => p.text ?? '').join('');
}
