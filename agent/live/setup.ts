import {
  ActivityHandling,
  EndSensitivity,
  type FunctionDeclaration,
  type LiveConnectConfig,
  MediaResolution,
  Modality,
  StartSensitivity,
} from '@google/genai';
import type { RoomConfig } from '../config.ts';

const MEDIA_RESOLUTION = {
  low: MediaResolution.MEDIA_RESOLUTION_LOW,
  medium: MediaResolution.MEDIA_RESOLUTION_MEDIUM,
  high: MediaResolution.MEDIA_RESOLUTION_HIGH,
} as const;

/**
 * The API version a room's session needs: affective dialog and proactive audio exist only in v1alpha.
 * Undefined means the SDK's default.
 */
export function liveApiVersion(room: RoomConfig): string | undefined {
  return room.affectiveDialog || room.proactiveAudio ? 'v1alpha' : undefined;
}

/**
 * The `live.connect` config for a room. Input and output transcription are always on (the bridge
 * publishes them); resumption is always on (the session layer adds the handle per connection).
 */
export function buildLiveConfig(room: RoomConfig, functions: FunctionDeclaration[] = []): LiveConnectConfig {
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
  if (room.thinkingBudget !== undefined) config.thinkingConfig = { thinkingBudget: room.thinkingBudget };
  if (room.affectiveDialog) config.enableAffectiveDialog = true;
  if (room.proactiveAudio) config.proactivity = { proactiveAudio: true };
  const tools: NonNullable<LiveConnectConfig['tools']> = [];
  if (functions.length) tools.push({ functionDeclarations: functions });
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
