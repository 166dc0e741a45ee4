import {
  ActivityHandling,
  EndSensitivity,
  type FunctionDeclaration,
  type LiveConnectConfig,
  MediaResolution,
  Modality,
  StartSensitivity,
  type ThinkingConfig,
  ThinkingLevel,
} from '@google/genai';
import {
  apiVersionFor,
  type Backend,
  effectiveBehavior,
  type LiveModelSpec,
  liveModel,
  settingsFromConfig,
} from '../../shared/gemini-models/index.ts';
import type { RoomConfig } from '../config.ts';

const MEDIA_RESOLUTION = {
  low: MediaResolution.MEDIA_RESOLUTION_LOW,
  medium: MediaResolution.MEDIA_RESOLUTION_MEDIUM,
  high: MediaResolution.MEDIA_RESOLUTION_HIGH,
} as const;

const THINKING_LEVEL = {
  minimal: ThinkingLevel.MINIMAL,
  low: ThinkingLevel.LOW,
  medium: ThinkingLevel.MEDIUM,
  high: ThinkingLevel.HIGH,
} as const;

/**
 * The API version a room's session needs on its model (2.5's affective dialog and proactive audio
 * exist only in v1alpha). Undefined means the SDK's default.
 */
export function liveApiVersion(room: RoomConfig, backend: Backend = 'gemini'): string | undefined {
  return apiVersionFor(
    liveModel(room.model, backend),
    settingsFromConfig(buildLiveConfig(room, [], backend)),
  );
}

/**
 * The thinking setting the model takes: a budget (2.5), a level it knows (3.1, 3.8 extended thinking),
 * or nothing (3.8 reasons in its own way). An unknown model gets what the room set.
 */
function thinkingFor(spec: LiveModelSpec, room: RoomConfig): ThinkingConfig | undefined {
  const budget = room.thinkingBudget;
  const level = room.thinkingLevel && THINKING_LEVEL[room.thinkingLevel];
  const t: ThinkingConfig = {};
  const control = spec.known ? spec.thinking.control : 'any';
  if (budget !== undefined && (control === 'budget' || control === 'any')) t.thinkingBudget = budget;
  if (level && (control === 'any' || (control === 'level' && spec.thinking.levels?.includes(level as never))))
    t.thinkingLevel = level;
  return Object.keys(t).length ? t : undefined;
}

/**
 * A feature switch as the model takes it: `true` where the model has the feature (or is unknown),
 * `false` only where it is on by default (Vertex 3.8) or cannot be switched off (the service refuses
 * that, as the room check did already); otherwise left out, which is the model's default.
 */
function featureFor(support: LiveModelSpec['affectiveDialog'], known: boolean, on: boolean | undefined) {
  if (on === undefined) return undefined;
  if (on) return known && support === 'unsupported' ? undefined : true;
  return known && (support === 'default-on' || support === 'always') ? false : undefined;
}

/**
 * The `live.connect` config for a room, per its model (shared/gemini-models): settings the model
 * ignores are left out (config/model.ts has warned about them), and every function declaration states
 * the behaviour it gets on the model, so the tool runner and the model agree. Input and output
 * transcription are always on (the bridge publishes them); resumption is always on (the session layer
 * adds the handle per connection).
 */
export function buildLiveConfig(
  room: RoomConfig,
  functions: FunctionDeclaration[] = [],
  backend: Backend = 'gemini',
): LiveConnectConfig {
  const spec = liveModel(room.model, backend);
  const config: LiveConnectConfig = {
    responseModalities: [Modality.AUDIO],
    systemInstruction: { parts: [{ text: room.systemInstruction }], role: 'user' },
    inputAudioTranscription: {},
    outputAudioTranscription: {},
    sessionResumption: {},
  };
  if (room.temperature !== undefined) config.temperature = room.temperature;
  if (room.voice || room.language) {
    config.speechConfig = {};
    if (room.voice) config.speechConfig.voiceConfig = { prebuiltVoiceConfig: { voiceName: room.voice } };
    if (room.language) config.speechConfig.languageCode = room.language;
  }
  if (room.video.enabled && room.video.resolution)
    config.mediaResolution = MEDIA_RESOLUTION[room.video.resolution];
  const thinking = thinkingFor(spec, room);
  if (thinking) config.thinkingConfig = thinking;
  const affective = featureFor(spec.affectiveDialog, spec.known, room.affectiveDialog);
  if (affective !== undefined) config.enableAffectiveDialog = affective;
  const proactive = featureFor(spec.proactiveAudio, spec.known, room.proactiveAudio);
  if (proactive !== undefined) config.proactivity = { proactiveAudio: proactive };
  const tools: NonNullable<LiveConnectConfig['tools']> = [];
  if (functions.length) {
    tools.push({
      functionDeclarations: functions.map((f) => ({
        ...f,
        behavior: effectiveBehavior(spec, f.behavior) as FunctionDeclaration['behavior'],
      })),
    });
  }
  if (room.googleSearch) tools.push({ googleSearch: {} });
  if (tools.length) config.tools = tools;
  const vad = room.vad;
  config.realtimeInputConfig = {
    activityHandling: ActivityHandling.START_OF_ACTIVITY_INTERRUPTS,
    automaticActivityDetection: room.pushToTalk
      ? { disabled: true }
      : {
          disabled: false,
          ...(vad.startSensitivity && {
            startOfSpeechSensitivity:
              vad.startSensitivity === 'high'
                ? StartSensitivity.START_SENSITIVITY_HIGH
                : StartSensitivity.START_SENSITIVITY_LOW,
          }),
          ...(vad.endSensitivity && {
            endOfSpeechSensitivity:
              vad.endSensitivity === 'high'
                ? EndSensitivity.END_SENSITIVITY_HIGH
                : EndSensitivity.END_SENSITIVITY_LOW,
          }),
          ...(vad.prefixPaddingMs !== undefined && { prefixPaddingMs: vad.prefixPaddingMs }),
          ...(vad.silenceDurationMs !== undefined && { silenceDurationMs: vad.silenceDurationMs }),
        },
  };
  if (room.compression.enabled) {
    config.contextWindowCompression = {
      slidingWindow: room.compression.targetTokens
        ? { targetTokens: String(room.compression.targetTokens) }
        : {},
      ...(room.compression.triggerTokens && { triggerTokens: String(room.compression.triggerTokens) }),
    };
  }
  return config;
}
