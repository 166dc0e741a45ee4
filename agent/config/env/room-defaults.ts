import type { MultiUserPolicy, RoomConfigInput } from '../room.ts';
import { bool, dropUndefined, list, num, str } from './parse.ts';

/**
 * Room defaults from the environment: `GEMINI_MODEL`, `GEMINI_VOICE`, `AGENT_INSTRUCTIONS`,
 * `AGENT_LANGUAGE`, `AGENT_TOOLS` (comma list), `AGENT_POLICY`, `AGENT_PUSH_TO_TALK`, `AGENT_VIDEO`,
 * `AGENT_VIDEO_FPS`, `AGENT_VIDEO_RESOLUTION`, `AGENT_VAD_START_SENSITIVITY`, `AGENT_VAD_END_SENSITIVITY`, `AGENT_VAD_PREFIX_MS`,
 * `AGENT_VAD_SILENCE_MS`, `AGENT_COMPRESSION`, `AGENT_TOOL_TIMEOUT_MS`, `AGENT_FLOOR_RELEASE_MS`,
 * `AGENT_THINKING_BUDGET`, `AGENT_THINKING_LEVEL`, `AGENT_AFFECTIVE_DIALOG`, `AGENT_PROACTIVE_AUDIO`, `AGENT_GOOGLE_SEARCH`.
 */
export function roomDefaultsFromEnv(env: NodeJS.ProcessEnv = process.env): RoomConfigInput {
  const video = dropUndefined({
    enabled: bool(env.AGENT_VIDEO),
    fps: num(env.AGENT_VIDEO_FPS),
    resolution: str(env.AGENT_VIDEO_RESOLUTION) as 'low' | 'medium' | 'high' | undefined,
  });
  const vad = dropUndefined({
    startSensitivity: str(env.AGENT_VAD_START_SENSITIVITY) as 'high' | 'low' | undefined,
    endSensitivity: str(env.AGENT_VAD_END_SENSITIVITY) as 'high' | 'low' | undefined,
    prefixPaddingMs: num(env.AGENT_VAD_PREFIX_MS),
    silenceDurationMs: num(env.AGENT_VAD_SILENCE_MS),
  });
  const compressionEnabled = bool(env.AGENT_COMPRESSION);
  return dropUndefined({
    model: str(env.GEMINI_MODEL),
    voice: str(env.GEMINI_VOICE),
    systemInstruction: str(env.AGENT_INSTRUCTIONS),
    language: str(env.AGENT_LANGUAGE),
    tools: list(env.AGENT_TOOLS),
    policy: str(env.AGENT_POLICY) as MultiUserPolicy | undefined,
    pushToTalk: bool(env.AGENT_PUSH_TO_TALK),
    floorReleaseMs: num(env.AGENT_FLOOR_RELEASE_MS),
    toolTimeoutMs: num(env.AGENT_TOOL_TIMEOUT_MS),
    thinkingBudget: num(env.AGENT_THINKING_BUDGET),
    thinkingLevel: str(env.AGENT_THINKING_LEVEL)?.toLowerCase() as RoomConfigInput['thinkingLevel'],
    affectiveDialog: bool(env.AGENT_AFFECTIVE_DIALOG),
    proactiveAudio: bool(env.AGENT_PROACTIVE_AUDIO),
    googleSearch: bool(env.AGENT_GOOGLE_SEARCH),
    video: Object.keys(video).length ? video : undefined,
    vad: Object.keys(vad).length ? vad : undefined,
    compression: compressionEnabled === undefined ? undefined : { enabled: compressionEnabled },
  }) as RoomConfigInput;
}

/** Variable of each room default, for error messages. */
export const ROOM_ENV: Record<string, string> = {
  model: 'GEMINI_MODEL',
  voice: 'GEMINI_VOICE',
  systemInstruction: 'AGENT_INSTRUCTIONS',
  language: 'AGENT_LANGUAGE',
  tools: 'AGENT_TOOLS',
  policy: 'AGENT_POLICY',
  pushToTalk: 'AGENT_PUSH_TO_TALK',
  floorReleaseMs: 'AGENT_FLOOR_RELEASE_MS',
  toolTimeoutMs: 'AGENT_TOOL_TIMEOUT_MS',
  thinkingBudget: 'AGENT_THINKING_BUDGET',
  thinkingLevel: 'AGENT_THINKING_LEVEL',
  affectiveDialog: 'AGENT_AFFECTIVE_DIALOG',
  proactiveAudio: 'AGENT_PROACTIVE_AUDIO',
  googleSearch: 'AGENT_GOOGLE_SEARCH',
  'video.enabled': 'AGENT_VIDEO',
  'video.fps': 'AGENT_VIDEO_FPS',
  'video.resolution': 'AGENT_VIDEO_RESOLUTION',
  'vad.startSensitivity': 'AGENT_VAD_START_SENSITIVITY',
  'vad.endSensitivity': 'AGENT_VAD_END_SENSITIVITY',
  'vad.prefixPaddingMs': 'AGENT_VAD_PREFIX_MS',
  'vad.silenceDurationMs': 'AGENT_VAD_SILENCE_MS',
  'compression.enabled': 'AGENT_COMPRESSION',
};
