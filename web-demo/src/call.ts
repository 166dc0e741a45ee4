import type { Emitter } from './emitter.ts';
import type { LightState } from './light.ts';
import type { Transcript } from './transcript.ts';

/** The agent's state as LiveKit frontends show it (`lk.agent.state`), plus the page's own two. */
export type AgentState =
  | 'absent'
  | 'initializing'
  | 'idle'
  | 'listening'
  | 'thinking'
  | 'speaking'
  | 'failed';

export type CallStatus = 'connecting' | 'connected' | 'reconnecting' | 'ended';

/** Error codes the page distinguishes; each one gets its own message and recovery. */
export type CallErrorCode =
  | 'mic-denied'
  | 'mic-unavailable'
  | 'publish-failed'
  | 'camera-failed'
  | 'token-refused'
  | 'token-server-unreachable'
  | 'direct-unavailable'
  | 'connect-failed'
  | 'agent-timeout'
  | 'agent-failed'
  | 'disconnected'
  | 'audio-blocked'
  | 'push-to-talk-failed';

export class CallError extends Error {
  override name = 'CallError';
  readonly code: CallErrorCode;
  /** A fatal error ends the call; others are shown while the call goes on. */
  readonly fatal: boolean;

  constructor(code: CallErrorCode, message: string, fatal: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.fatal = fatal;
  }
}

export interface CallEvents extends Record<string, unknown[]> {
  status: [CallStatus];
  agentState: [AgentState];
  /** The agent's voice to visualise, or null when there is none. */
  agentAudio: [AudioContext, AudioNode | MediaStream] | [null];
  light: [LightState];
  error: [CallError];
  /** A previously reported non-fatal error no longer applies (e.g. the agent joined after all). */
  errorCleared: [CallErrorCode];
  /** Local mic/camera/screen state changed. */
  media: [MediaState];
  /** Video to show: a tile per track, keyed; null element removes the tile. */
  video: [key: string, label: string, element: HTMLVideoElement | null];
  /** Whether the agent only listens while the user holds a talk control (push-to-talk room). */
  pushToTalk: [boolean];
}

export interface MediaState {
  mic: boolean;
  camera: boolean;
  screen: boolean;
}

export interface JoinOptions {
  /** Display name of the person at this page. */
  name: string;
  /** Room to join (LiveKit mode). */
  room: string;
}

/** One conversation with the agent, whichever transport carries it. */
export interface Call extends Emitter<CallEvents> {
  readonly mode: 'livekit' | 'direct';
  readonly transcript: Transcript;
  start(o: JoinOptions): Promise<void>;
  setMicrophone(on: boolean): Promise<void>;
  setCamera(on: boolean): Promise<void>;
  setScreenShare(on: boolean): Promise<void>;
  sendChat(text: string): Promise<void>;
  /** Push-to-talk: the user started (`true`) or stopped holding the talk control. */
  talk?(on: boolean): Promise<void>;
  /** Ends the call; idempotent. */
  leave(): Promise<void>;
}

/** Turns a failed `getUserMedia`-style call into the page's error vocabulary. */
export function mediaError(err: unknown, what: 'mic' | 'camera'): CallError {
  const name = err instanceof Error ? err.name : '';
  if (what === 'mic') {
    if (name === 'NotAllowedError' || name === 'SecurityError') {
      return new CallError(
        'mic-denied',
        'Microphone permission was denied. Allow it in the browser and rejoin.',
        false,
        {
          cause: err,
        },
      );
    }
    if (['NotFoundError', 'NotReadableError', 'OverconstrainedError', 'AbortError'].includes(name)) {
      return new CallError('mic-unavailable', `No usable microphone (${name}).`, false, { cause: err });
    }
    const why = err instanceof Error ? err.message : String(err);
    return new CallError('publish-failed', `The microphone could not be sent (${why}).`, false, {
      cause: err,
    });
  }
  return new CallError(
    'camera-failed',
    `Camera or screen could not be started (${name || String(err)}).`,
    false,
    {
      cause: err,
    },
  );
}

/** Classifies a token-endpoint failure (HTTP status or network error). */
export function tokenError(status: number | undefined, detail: string, cause?: unknown): CallError {
  if (status === undefined) {
    return new CallError('token-server-unreachable', `The token server is unreachable (${detail}).`, true, {
      cause,
    });
  }
  return new CallError(
    'token-refused',
    `The token server refused the request (HTTP ${status}${detail ? `: ${detail}` : ''}).`,
    true,
    {
      cause,
    },
  );
}
