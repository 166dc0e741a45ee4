/**
 * The model seam: what a Live model accepts and how it behaves comes from the shared catalogue
 * (shared/gemini-models, one home for those facts); the profile adds what only an emulator needs (voices,
 * audio rates, and the strategies of model.ts for transcripts, answers and the synthetic voice). The
 * session asks the profile of the setup's model instead of branching on model names.
 *
 * The Gemini API endpoint uses the catalogue's `gemini` specs, the Vertex AI endpoint its `vertex` ones
 * (other ids, other defaults).
 */

import { LIVE_OUTPUT_RATE as OUTPUT_RATE } from '../../shared/audio/rates.ts';
import {
  type Backend,
  LIVE_MODELS,
  type LiveModelSpec,
  liveModel,
} from '../../shared/gemini-models/index.ts';
import { defaultAnswer, speechTranscript, synthesize } from './model.ts';
import { DEFAULT_VOICE, VOICES } from './voices.ts';

/** The Live API's rates (one home: shared/audio/rates.ts), under the names the emulator exports. */
export { LIVE_INPUT_RATE as INPUT_RATE, LIVE_OUTPUT_RATE as OUTPUT_RATE } from '../../shared/audio/rates.ts';

export interface ModelProfile {
  /** The catalogue's facts: API versions, setup rules, function behaviour, token rates and limits. */
  spec: LiveModelSpec;
  /** Prebuilt voice names (matched case-insensitively) and the one used when the setup names none. */
  voices: readonly string[];
  defaultVoice: string;
  /** How many `responseModalities` one session may ask for. */
  maxResponseModalities: number;
  outputRate: number;
  /** Transcript of an utterance the model cannot recognise (default behaviour). */
  transcript(audioMs: number): string;
  /** Answer to a text turn (default behaviour); `before`: the last thing said before it, as remembered. */
  answer(text: string, turn: number, before?: string): string;
  /** The model's voice speaking `text`, at {@link outputRate}. */
  speak(text: string, voice: string): Int16Array;
}

/** The emulator's profile of a catalogue spec (every model shares the voices and strategies). */
export function profileOf(spec: LiveModelSpec): ModelProfile {
  return {
    spec,
    voices: VOICES,
    defaultVoice: DEFAULT_VOICE,
    maxResponseModalities: 1,
    outputRate: OUTPUT_RATE,
    transcript: speechTranscript,
    answer: defaultAnswer,
    speak: (text, voice) => synthesize(text, voice, OUTPUT_RATE),
  };
}

/**
 * Live model names the emulator accepts out of the box (the `models/` prefix is optional on the wire)
 * and their profiles. A Map: model names come from clients and must not reach `Object.prototype`.
 */
export const MODEL_PROFILES: ReadonlyMap<string, ModelProfile> = new Map(
  LIVE_MODELS.filter((m) => m.backend === 'gemini').map((m) => [m.id, profileOf(m)]),
);

/** Vertex AI's Live models and their profiles (ids differ from the Gemini API's, e.g. 2.5 native audio). */
export const VERTEX_MODEL_PROFILES: ReadonlyMap<string, ModelProfile> = new Map(
  LIVE_MODELS.filter((m) => m.backend === 'vertex').map((m) => [m.id, profileOf(m)]),
);
export const VERTEX_MODELS: ReadonlySet<string> = new Set(VERTEX_MODEL_PROFILES.keys());

/**
 * The profile of an accepted model. A name added with `options.models` gets the catalogue's pass-through
 * spec: the default model's behaviour and none of its refusals.
 */
export function profileFor(model: string, backend: Backend = 'gemini'): ModelProfile {
  const known = backend === 'vertex' ? VERTEX_MODEL_PROFILES : MODEL_PROFILES;
  return known.get(model) ?? profileOf(liveModel(model, backend));
}
