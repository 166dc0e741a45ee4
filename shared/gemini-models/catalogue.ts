/**
 * The one catalogue of Gemini Live models: for each known model, on each backend (Gemini API, Vertex AI),
 * what its setup accepts and how it behaves. The agent, the token server, the web demo and the emulator
 * all read it; a model name it does not know is passed through with a warning (see {@link liveModel}), so
 * a new Google model needs no release.
 *
 * Sources (stored copies checked on 2026-12-06, see docs/research/gemini-models-2026.md, which this file
 * cites as "research §N"): the model pages and migration guides on ai.google.dev, the Agent Platform
 * (Vertex) guides, and the `@google/genai` 3.6.1 type definitions. Where the issue (#13) and the research
 * disagree, the research wins and the field's comment says so. Browser-safe: no Node imports.
 */

/** Where the session runs: the Gemini Developer API (API key / ephemeral token) or Vertex AI. */
export type Backend = 'gemini' | 'vertex';

/** How a model's reasoning is configured in `generationConfig.thinkingConfig`. */
export type ThinkingControl =
  /** `thinkingBudget` (tokens; 0 turns thinking off, unset = dynamic). */
  | 'budget'
  /** `thinkingLevel` from {@link ThinkingSpec.levels}. */
  | 'level'
  /** No setting: the model reasons in its own way (or not at all). */
  | 'none';

/** `ThinkingLevel` of `@google/genai` 3.6.1 (`dist/genai.d.ts`). */
export type ThinkingLevel = 'MINIMAL' | 'LOW' | 'MEDIUM' | 'HIGH';

export interface ThinkingSpec {
  control: ThinkingControl;
  /** Levels accepted when `control` is `'level'`. */
  levels?: readonly ThinkingLevel[];
  /** The level (or, for budgets, the behaviour) when the setup sets nothing. */
  default?: ThinkingLevel | 'dynamic' | 'interleaved';
}

/**
 * A feature the client may switch: `'opt-in'` off unless set, `'default-on'` on unless switched off,
 * `'always'` on and cannot be switched off, `'unsupported'` not available (leave the setting out).
 */
export type FeatureSupport = 'opt-in' | 'default-on' | 'always' | 'unsupported';

/** `FunctionResponseScheduling` of `@google/genai` 3.6.1, without `SCHEDULING_UNSPECIFIED`. */
export type Scheduling = 'SILENT' | 'WHEN_IDLE' | 'INTERRUPT';
export type FunctionBehavior = 'BLOCKING' | 'NON_BLOCKING';

export interface FunctionSpec {
  /** What a declaration without `behavior` does. */
  defaultBehavior: FunctionBehavior;
  /** Behaviours the model honours; a declared one outside this list runs as {@link defaultBehavior}. */
  behaviors: readonly FunctionBehavior[];
  /** How a NON_BLOCKING result is voiced when the response names no `scheduling`. */
  defaultScheduling: Scheduling;
}

export interface ClientContentSpec {
  /**
   * When `clientContent` interrupts a running generation: `'always'` (any message, as `LiveClientContent`
   * documents for 2.x) or `'turnComplete'` (only with `turnComplete: true`; content without it makes the
   * server wait for more).
   */
  interrupts: 'always' | 'turnComplete';
  /**
   * Content with `model` turns (a conversation seeded anew): `'any'` is taken whenever it comes;
   * `'historyConfig'` only as the initial history the setup declares with
   * `historyConfig.initialHistoryInClientContent` (sent before any realtime input, ended by
   * `turnComplete: true`, which then starts no reply); anything else is closed with 1007.
   */
  history: 'any' | 'historyConfig';
}

/** How the service answers a setup whose `sessionResumption.handle` it will not resume. */
export interface ResumptionSpec {
  /** An unknown or expired handle, or one issued to another API key or project (it cannot see it). */
  unknown: { code: number; reason: string };
  /** A valid handle of a session of another model. */
  otherModel: { code: number; reason: string };
  /** A valid handle while another connection of its session is still open (close that one first). */
  stillOpen: { code: number; reason: string };
}

/** `MediaResolution` of `@google/genai` 3.6.1, without `MEDIA_RESOLUTION_UNSPECIFIED`. */
export type MediaResolution = 'MEDIA_RESOLUTION_LOW' | 'MEDIA_RESOLUTION_MEDIUM' | 'MEDIA_RESOLUTION_HIGH';

/** `TurnCoverage` of `@google/genai` 3.6.1, without `TURN_COVERAGE_UNSPECIFIED`. */
export type TurnCoverage =
  | 'TURN_INCLUDES_ONLY_ACTIVITY'
  | 'TURN_INCLUDES_ALL_INPUT'
  | 'TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO';

export type ResponseModality = 'AUDIO' | 'TEXT' | 'VIDEO';

/** Token accounting of the model's input (what `usageMetadata` counts). */
export interface TokenRates {
  /**
   * Tokens per second of audio, in and out. 32: https://ai.google.dev/gemini-api/docs/audio (Gemini in
   * general; no Live-specific rate is published, research §7).
   */
  audioPerSecond: number;
  /**
   * Tokens per video frame by `mediaResolution`, and when the setup sets none. LOW 64 / MEDIUM 256 /
   * HIGH 256 are the `MediaResolution` doc strings of `@google/genai` 3.6.1; Google's own token table
   * was unreadable in the store (research §7).
   */
  videoFrame: Readonly<Record<MediaResolution | 'default', number>>;
}

/** What one Live model accepts and how it behaves on one backend. */
export interface LiveModelSpec {
  /** The id to send (`setup.model` without `models/`) on {@link backend}. */
  id: string;
  backend: Backend;
  /** False for a name the catalogue does not know: passed through, {@link warning} says so. */
  known: boolean;
  /** Set for unknown models: a one-line warning for the caller to log. */
  warning?: string;
  /** Which Live line the model belongs to (`'unknown'` for pass-through names). */
  family: '3.8' | '3.8-extended-thinking' | '3.1-flash' | '2.5-native-audio' | '2.0' | 'unknown';
  /** Google's label on the model page. */
  status: 'stable' | 'preview' | 'legacy-preview' | 'legacy';
  /** API versions that serve BidiGenerateContent for it on this backend. */
  apiVersions: readonly string[];
  /**
   * Setup fields that only some API versions know: elsewhere the service answers "Unknown name". The
   * keys are {@link LiveSettings} names.
   */
  versionGated: Readonly<Partial<Record<'affectiveDialog' | 'proactiveAudio', readonly string[]>>>;
  thinking: ThinkingSpec;
  affectiveDialog: FeatureSupport;
  proactiveAudio: FeatureSupport;
  functions: FunctionSpec;
  clientContent: ClientContentSpec;
  /** Refusals of a resumption handle; Google documents none of them (docs/recovery.md says what is known). */
  resumption: ResumptionSpec;
  /** The turn coverage when `realtimeInputConfig.turnCoverage` is unset. */
  turnCoverageDefault: TurnCoverage;
  responseModalities: readonly ResponseModality[];
  /** `inputAudioTranscription` / `outputAudioTranscription` are available. */
  transcription: { input: boolean; output: boolean };
  /** One server message may carry several parts (audio plus its transcription). */
  multiPartMessages: boolean;
  tokens: TokenRates;
  /** Context window (input) and output token limits. */
  inputTokenLimit: number;
  outputTokenLimit: number;
  /** Where the facts above come from. */
  sources: readonly string[];
}

/** The model the agent, token server, web demo and emulator use when none is configured. */
export const DEFAULT_LIVE_MODEL = 'gemini-3.8-live';

const ALL_GEMINI_VERSIONS = ['v1', 'v1beta', 'v1alpha'] as const;
/** SDK 3.6.1 `VERTEX_AI_API_DEFAULT_VERSION` is v1beta1 (research §5). */
const VERTEX_VERSIONS = ['v1', 'v1beta1'] as const;

const RATES_2X: TokenRates = {
  audioPerSecond: 32,
  // 258 is the classic 2.x per-image count, roughly a frame at default resolution (research §7).
  videoFrame: {
    default: 258,
    MEDIA_RESOLUTION_LOW: 64,
    MEDIA_RESOLUTION_MEDIUM: 256,
    MEDIA_RESOLUTION_HIGH: 256,
  },
};
/** Research §7: "don't hard-code 258 for 3.x Live"; the SDK's per-resolution numbers are all we have. */
const RATES_3X: TokenRates = {
  audioPerSecond: 32,
  videoFrame: {
    default: 256,
    MEDIA_RESOLUTION_LOW: 64,
    MEDIA_RESOLUTION_MEDIUM: 256,
    MEDIA_RESOLUTION_HIGH: 256,
  },
};

const SRC_38 =
  'https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live (Migrating from Gemini 3.1 Flash Live)';
const SRC_38_VERTEX =
  'https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-8-live';
const SRC_31 = 'https://ai.google.dev/gemini-api/docs/models/gemini-3.1-flash-live-preview';

/** A bad request's canonical close: INVALID_ARGUMENT is 1007 with this text (the service's own wording). */
const INVALID_ARGUMENT = { code: 1007, reason: 'Request contains an invalid argument.' };
/** NOT_FOUND is 1008 with this text (seen on 2.5 closes, discuss.ai.google.dev t/109319). */
const NOT_FOUND = { code: 1008, reason: 'Requested entity was not found.' };
/**
 * A resume while an earlier connection of the session is open: "Gemini rejects a resume with 1011 while
 * an earlier socket of the same session is still open (verified against the live service)", a
 * third-party client's note (aicc2025/sip-to-ai#14); livekit/agents closes its old connection before it
 * reconnects too. The reason text is 1011's usual one (assumed).
 */
const STILL_OPEN = { code: 1011, reason: 'Internal error encountered.' };

/** Gemini 3.8 Live on the Gemini API (research §2). */
const LIVE_38: LiveModelSpec = {
  id: 'gemini-3.8-live',
  backend: 'gemini',
  known: true,
  family: '3.8',
  status: 'stable',
  apiVersions: ALL_GEMINI_VERSIONS,
  versionGated: {},
  // "thinking_level is not supported"; reasoning is interleaved. The page does not say that sending it is
  // an error (the "no thinkingConfig" holds, an error does not), so the check drops it.
  thinking: { control: 'none', default: 'interleaved' },
  // Issue: "affective dialog removed". Research §2: removed, but not documented as an error → drop.
  affectiveDialog: 'unsupported',
  // "permanently enabled; setting proactive_audio: false returns an error".
  proactiveAudio: 'always',
  // Async (NON_BLOCKING) is the default; BLOCKING stays for backward compatibility.
  functions: {
    defaultBehavior: 'NON_BLOCKING',
    behaviors: ['NON_BLOCKING', 'BLOCKING'],
    defaultScheduling: 'WHEN_IDLE',
  },
  // turn_complete=true interrupts unconditionally; without it the server waits for later messages.
  // History with model turns needs historyConfig.initialHistoryInClientContent on the 3.x line, or the
  // socket is closed 1007 right after it (3.1 migration guide, quoted in js-genai#1520 and
  // yagudaev/voiceclaw#248; livekit/agents-js#2162 says it of "the 3.x live models").
  clientContent: { interrupts: 'turnComplete', history: 'historyConfig' },
  // A resume after 3.8's session deadline was refused 1007 (discuss.ai.google.dev t/186392); a handle of
  // another model is a bad argument too (assumed).
  resumption: { unknown: INVALID_ARGUMENT, otherModel: INVALID_ARGUMENT, stillOpen: STILL_OPEN },
  turnCoverageDefault: 'TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO',
  // Only AUDIO; text comes from output audio transcription.
  responseModalities: ['AUDIO'],
  transcription: { input: true, output: true },
  // Stated for 3.1 Flash Live, whose migration 3.8's guide continues (research §3).
  multiPartMessages: true,
  tokens: RATES_3X,
  inputTokenLimit: 131_072,
  outputTokenLimit: 65_536,
  sources: [SRC_38],
};

/** Gemini 3.8 Live on Vertex AI: same id, but affective dialog and proactive audio on by default. */
const LIVE_38_VERTEX: LiveModelSpec = {
  ...LIVE_38,
  backend: 'vertex',
  apiVersions: VERTEX_VERSIONS,
  // Research §2: the Agent Platform guide lists affective dialogue and proactive audio as on by default
  // (the "removed" / "false is an error" are Gemini-API statements).
  affectiveDialog: 'default-on',
  proactiveAudio: 'default-on',
  // Vertex 3.8 also answers in VIDEO for Live Avatar (24 FPS).
  responseModalities: ['AUDIO', 'VIDEO'],
  sources: [SRC_38_VERTEX],
};

/** Gemini 3.8 Live Extended Thinking: background reasoning, async function calls only (research §1). */
const LIVE_38_THINKING: LiveModelSpec = {
  ...LIVE_38,
  id: 'gemini-3.8-live-extended-thinking',
  family: '3.8-extended-thinking',
  // Only Agora's release notes (3rd party) say it takes thinking_level low/medium/high: unverified.
  thinking: { control: 'level', levels: ['LOW', 'MEDIUM', 'HIGH'] },
  // "Function calling: Supported (Async only)".
  functions: { defaultBehavior: 'NON_BLOCKING', behaviors: ['NON_BLOCKING'], defaultScheduling: 'WHEN_IDLE' },
  sources: ['https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live-extended-thinking'],
};

/** Gemini 3.1 Flash Live, a legacy preview (research §3). */
const FLASH_31: LiveModelSpec = {
  ...LIVE_38,
  id: 'gemini-3.1-flash-live-preview',
  family: '3.1-flash',
  status: 'legacy-preview',
  thinking: { control: 'level', levels: ['MINIMAL', 'LOW', 'MEDIUM', 'HIGH'], default: 'MINIMAL' },
  // Proactive audio and affective dialog are "not yet supported": remove their configuration.
  affectiveDialog: 'unsupported',
  proactiveAudio: 'unsupported',
  // Synchronous calls only: the model waits for the tool response.
  functions: { defaultBehavior: 'BLOCKING', behaviors: ['BLOCKING'], defaultScheduling: 'WHEN_IDLE' },
  // Not stated for 3.1 in the research; the emulator keeps accepting TEXT as before.
  responseModalities: ['AUDIO', 'TEXT'],
  sources: [SRC_31],
};

/** Gemini 2.5 Flash native audio on the Gemini API (research §4). */
const NATIVE_AUDIO_25: LiveModelSpec = {
  id: 'gemini-2.5-flash-native-audio-preview-12-2025',
  backend: 'gemini',
  known: true,
  family: '2.5-native-audio',
  status: 'preview',
  apiVersions: ALL_GEMINI_VERSIONS,
  // The issue says "(v1alpha)"; research §4 found no Google doc for it (3rd party only). Kept because the
  // emulator has refused these outside v1alpha since its first version and the agent asks for v1alpha.
  versionGated: { affectiveDialog: ['v1alpha'], proactiveAudio: ['v1alpha'] },
  // thinking_config.thinking_budget: 0 disables, dynamic by default (Vertex "Configure Gemini capabilities").
  thinking: { control: 'budget', default: 'dynamic' },
  // Opt-in: proactive audio is off by default (Vertex proactive-audio page).
  affectiveDialog: 'opt-in',
  proactiveAudio: 'opt-in',
  functions: {
    defaultBehavior: 'BLOCKING',
    behaviors: ['BLOCKING', 'NON_BLOCKING'],
    defaultScheduling: 'WHEN_IDLE',
  },
  // "A message here will interrupt any current model generation" (SDK LiveClientContent doc); history
  // with model turns was always taken without historyConfig (livekit/agents mutable_chat_context).
  clientContent: { interrupts: 'always', history: 'any' },
  // Not documented: 1008 is what a third-party design note (and this emulator since its first version)
  // says a forgotten handle gets on 2.5; the other model's handle as on 3.x (assumed).
  resumption: { unknown: NOT_FOUND, otherModel: INVALID_ARGUMENT, stillOpen: STILL_OPEN },
  // SDK TurnCoverage: unspecified means TURN_INCLUDES_ONLY_ACTIVITY; 3.1 is where the default changed.
  turnCoverageDefault: 'TURN_INCLUDES_ONLY_ACTIVITY',
  responseModalities: ['AUDIO', 'TEXT'],
  transcription: { input: true, output: true },
  multiPartMessages: false,
  tokens: RATES_2X,
  // Model page limits as of its release (not re-checked in the research): 131,072 in, 8,192 out.
  inputTokenLimit: 131_072,
  outputTokenLimit: 8_192,
  sources: [
    'https://docs.cloud.google.com/vertex-ai/generative-ai/docs/live-api/configure-gemini-capabilities',
    'https://cloud.google.com/vertex-ai/generative-ai/docs/live-api/proactive-audio',
  ],
};

/** Older Live names the emulator has always accepted; they behave like 2.5 native audio (not re-checked). */
const LEGACY_IDS = [
  'gemini-2.5-flash-native-audio-latest',
  'gemini-live-2.5-flash-preview',
  'gemini-2.0-flash-exp',
  'gemini-2.0-flash-live-001',
  'gemini-2.0-flash-live-preview-04-09',
] as const;

/** Every known model, per backend. */
export const LIVE_MODELS: readonly LiveModelSpec[] = [
  LIVE_38,
  LIVE_38_THINKING,
  FLASH_31,
  NATIVE_AUDIO_25,
  { ...NATIVE_AUDIO_25, id: 'gemini-2.5-flash-native-audio-preview-09-2025' },
  ...LEGACY_IDS.map(
    (id): LiveModelSpec => ({
      ...NATIVE_AUDIO_25,
      id,
      family: id.startsWith('gemini-2.0') ? '2.0' : '2.5-native-audio',
      status: 'legacy',
      sources: ['accepted by the emulator before the catalogue; not re-checked'],
    }),
  ),
  LIVE_38_VERTEX,
  { ...LIVE_38_THINKING, backend: 'vertex', apiVersions: VERTEX_VERSIONS },
  // Vertex's id for 2.5 native audio (GA) differs from the Gemini API's (research §5).
  {
    ...NATIVE_AUDIO_25,
    id: 'gemini-live-2.5-flash-native-audio',
    backend: 'vertex',
    status: 'stable',
    apiVersions: VERTEX_VERSIONS,
    versionGated: {},
    sources: ['https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-8-live'],
  },
];

/**
 * The bare model id: strips `models/`, `publishers/google/models/` and
 * `projects/P/locations/L/publishers/google/models/` (the forms the SDKs put on the wire, research §5).
 */
export function modelId(name: string): string {
  return name.trim().replace(/^(?:projects\/[^/]+\/locations\/[^/]+\/)?(?:publishers\/[^/]+\/)?models\//, '');
}

/**
 * The spec of `name` on `backend`. An unknown name is passed through: its spec has `known: false`, a
 * `warning` for the caller to log, the default model's behaviour (new models are newer ones), and no
 * rules of its own, so {@link checkSetup} finds nothing to object to.
 */
export function liveModel(name: string, backend: Backend = 'gemini'): LiveModelSpec {
  const id = modelId(name);
  const spec = LIVE_MODELS.find((m) => m.id === id && m.backend === backend);
  if (spec) return spec;
  const base = LIVE_MODELS.find((m) => m.id === DEFAULT_LIVE_MODEL && m.backend === backend)!;
  const names = { gemini: 'the Gemini API', vertex: 'Vertex AI' } as const;
  const other: Backend = backend === 'gemini' ? 'vertex' : 'gemini';
  // 2.5's ids differ between the backends: say so when the name is the other backend's.
  const hint = LIVE_MODELS.some((m) => m.id === id && m.backend === other)
    ? ` (it is ${names[other]}'s id)`
    : '';
  return {
    ...base,
    id,
    known: false,
    family: 'unknown',
    warning: `Gemini Live model "${id}" is not in the catalogue for ${names[backend]}${hint}; passing it through unchecked, with ${DEFAULT_LIVE_MODEL}'s behaviour.`,
    sources: [],
  };
}

/** Ids known on `backend`, the default first. */
export function knownLiveModels(backend: Backend = 'gemini'): string[] {
  return LIVE_MODELS.filter((m) => m.backend === backend).map((m) => m.id);
}
