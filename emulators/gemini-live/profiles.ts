/**
 * The model seam: what a Live model accepts (API versions, version-gated setup fields, voices, response
 * modalities, audio rates) and how it answers (transcripts, default answers, its synthetic voice). The
 * session asks the profile of the setup's model instead of branching on model names; per-model rules
 * are data here plus the small strategies in model.ts.
 *
 * Every model the emulator knows today behaves alike (the native-audio rules of the Live API guide), so
 * they share one profile; a model added with `options.models` gets it too.
 */
import { defaultAnswer, speechTranscript, synthesize } from './model.ts';
import type { Setup } from './protocol.ts';
import { DEFAULT_VOICE, VOICES } from './voices.ts';

/** Sample rate the Live API takes microphone audio at natively (other declared rates are resampled). */
export const INPUT_RATE = 16_000;
/** Sample rate of the model's audio output. */
export const OUTPUT_RATE = 24_000;

/** A setup field that only some API versions know (others refuse it as an unknown name). */
export interface VersionedField {
  /** The field as the service names it in its "Unknown name" error. */
  wireName: string;
  present(setup: Setup): boolean;
  apiVersions: readonly string[];
}

export interface ModelProfile {
  /** API versions on which the model serves BidiGenerateContent. */
  apiVersions: readonly string[];
  /** Setup fields limited to some API versions. */
  versionedFields: readonly VersionedField[];
  /** Prebuilt voice names (matched case-insensitively) and the one used when the setup names none. */
  voices: readonly string[];
  defaultVoice: string;
  /** How many `responseModalities` one session may ask for. */
  maxResponseModalities: number;
  outputRate: number;
  /** Transcript of an utterance the model cannot recognise (default behaviour). */
  transcript(audioMs: number): string;
  /** Answer to a text turn (default behaviour). */
  answer(text: string, turn: number): string;
  /** The model's voice speaking `text`, at {@link outputRate}. */
  speak(text: string, voice: string): Int16Array;
}

const ALL_VERSIONS = ['v1', 'v1beta', 'v1alpha'] as const;

/** The native-audio Live models of the guide (and every other model the emulator knows today). */
export const NATIVE_AUDIO: ModelProfile = {
  apiVersions: ALL_VERSIONS,
  // Affective dialog and proactive audio are v1alpha features: other versions do not know the fields.
  versionedFields: [
    {
      wireName: 'generation_config.enable_affective_dialog',
      present: (s) => s.generationConfig?.enableAffectiveDialog !== undefined,
      apiVersions: ['v1alpha'],
    },
    { wireName: 'proactivity', present: (s) => s.proactivity !== undefined, apiVersions: ['v1alpha'] },
  ],
  voices: VOICES,
  defaultVoice: DEFAULT_VOICE,
  maxResponseModalities: 1,
  outputRate: OUTPUT_RATE,
  transcript: speechTranscript,
  answer: defaultAnswer,
  speak: (text, voice) => synthesize(text, voice, OUTPUT_RATE),
};

/**
 * Live model names the emulator accepts out of the box (the `models/` prefix is optional on the wire)
 * and their profiles. A Map: model names come from clients and must not reach `Object.prototype`.
 */
export const MODEL_PROFILES: ReadonlyMap<string, ModelProfile> = new Map(
  [
    'gemini-2.5-flash-native-audio-preview-12-2025',
    'gemini-3.8-live',
    'gemini-3.8-live-extended-thinking',
    'gemini-3.1-flash-live-preview',
    'gemini-2.0-flash-exp',
    'gemini-2.5-flash-native-audio-preview-09-2025',
    'gemini-2.5-flash-native-audio-latest',
    'gemini-live-2.5-flash-preview',
    'gemini-2.0-flash-live-001',
    'gemini-2.0-flash-live-preview-04-09',
  ].map((name) => [name, NATIVE_AUDIO]),
);

/** The profile of an accepted model (extra `options.models` names behave like the native-audio ones). */
export function profileFor(model: string): ModelProfile {
  return MODEL_PROFILES.get(model) ?? NATIVE_AUDIO;
}
