import {
  ActivityHandling,
  EndSensitivity,
  type FunctionDeclaration,
  type LiveConnectConfig,
  Modality,
  StartSensitivity,
} from '@google/genai';
import type { RoomConfig } from '../config.ts';

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
  if (functions.length) config.tools = [{ functionDeclarations: functions }];
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
