import {
  ConnectionError,
  ConnectionErrorReason,
  DisconnectReason,
  LogLevel,
  type Participant,
  ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  Room,
  RoomEvent,
  RpcError,
  setLogLevel,
  type TextStreamReader,
  TokenSource,
  Track,
  type TrackPublication,
  type TranscriptionSegment,
} from 'livekit-client';
import {
  type AgentState,
  type Call,
  CallError,
  type CallEvents,
  type JoinOptions,
  mediaError,
  tokenError,
} from './call.ts';
import type { DemoConfig } from './config.ts';
import { Emitter } from './emitter.ts';
import { parseLight, SET_LIGHT } from './light.ts';
import { type Speaker, Transcript } from './transcript.ts';

const TOPIC_TRANSCRIPTION = 'lk.transcription';
const TOPIC_CHAT = 'lk.chat';
const ATTR_AGENT_STATE = 'lk.agent.state';
const ATTR_SEGMENT_ID = 'lk.segment_id';
const ATTR_FINAL = 'lk.transcription_final';
const ATTR_TRACK_ID = 'lk.transcribed_track_id';
// The SDK logs every signalling step at info; the page reports what matters itself.
setLogLevel(LogLevel.warn);

const ATTR_AGENT_ERROR = 'lk.agent.error';
const ATTR_AGENT_PUSH_TO_TALK = 'lk.agent.push_to_talk';
const RPC_PTT_START = 'ptt.start';
const RPC_PTT_END = 'ptt.end';
const AGENT_STATES = new Set<AgentState>([
  'initializing',
  'idle',
  'listening',
  'thinking',
  'speaking',
  'failed',
]);

export interface LiveKitCallOptions {
  config: DemoConfig;
  /** The page's audio context (created on the join click, so it may play). */
  audioContext: AudioContext;
  /** Where remote `<audio>` elements live (they must be in the document to play everywhere). */
  audioSink: HTMLElement;
}

/**
 * A conversation in a LiveKit room: joins through the token server's standard endpoint, publishes the
 * microphone, plays everyone, and turns the agent conventions (`lk.agent.state`, `lk.transcription`,
 * `lk.chat`, the `set_light` RPC) into {@link CallEvents}.
 */
export class LiveKitCall extends Emitter<CallEvents> implements Call {
  readonly mode = 'livekit';
  readonly transcript = new Transcript();
  #o: LiveKitCallOptions;
  #room: Room | null = null;
  #agent: RemoteParticipant | null = null;
  #agentTimer: ReturnType<typeof setTimeout> | undefined;
  #leaving = false;
  #audioElements = new Map<string, HTMLMediaElement>();
  /** Remote video tiles by track sid (the owner may be gone when the track ends). */
  #videoKeys = new Map<string, string>();
  #chatCount = 0;
  #agentFailed = false;
  #connected = false;
  #wantMic = false;
  #pushToTalk = false;

  constructor(o: LiveKitCallOptions) {
    super();
    this.#o = o;
  }

  /** The underlying room, for diagnostics. */
  get room(): Room | null {
    return this.#room;
  }

  async start(join: JoinOptions): Promise<void> {
    this.emit('status', 'connecting');
    const { config } = this.#o;
    const source = TokenSource.endpoint(`${config.tokenServerUrl}/livekit/token`);
    let details: { serverUrl: string; participantToken: string };
    try {
      details = await source.fetch({
        roomName: join.room,
        participantName: join.name,
        ...(config.agentName ? { agentName: config.agentName } : {}),
      });
    } catch (err) {
      // TokenSource reports HTTP failures as "received STATUS / body"; anything else is the network.
      const message = err instanceof Error ? err.message : String(err);
      const m = /received (\d{3}) \/ ?(.*)$/s.exec(message);
      throw tokenError(m ? Number(m[1]) : undefined, m ? summarise(m[2] ?? '') : message, err);
    }

    // One more attempt when the first fails for a transient reason (a media path that did not come up
    // in time on a busy network); a refused token is final.
    let room: Room;
    for (let attempt = 1; ; attempt++) {
      room = new Room({
        adaptiveStream: true,
        dynacast: true,
        audioCaptureDefaults: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      this.#room = room;
      this.#wire(room);
      try {
        await room.connect(details.serverUrl, details.participantToken);
        break;
      } catch (err) {
        this.#room = null;
        await room.disconnect().catch(() => {});
        if (this.#leaving) return;
        const refused = err instanceof ConnectionError && err.reason === ConnectionErrorReason.NotAllowed;
        if (refused || attempt >= 2) {
          const message = `Could not connect to the LiveKit server (${errText(err)}).`;
          throw new CallError('connect-failed', message, true, { cause: err });
        }
        console.warn('LiveKit connection failed; trying once more', err);
      }
    }
    if (this.#leaving) return;
    this.#connected = true;
    this.emit('status', 'connected');
    // Playback permission comes from the join click; a browser that still blocks it gets a button.
    room.startAudio().catch(() => {});
    for (const p of room.remoteParticipants.values()) this.#participantJoined(p);
    if (!this.#agent) {
      this.emit('agentState', 'absent');
      this.#armAgentTimer();
    }
    await this.setMicrophone(true);
  }

  async setMicrophone(on: boolean): Promise<void> {
    const room = this.#room;
    if (!room) return;
    this.#wantMic = on;
    try {
      await room.localParticipant.setMicrophoneEnabled(on);
      this.emit('errorCleared', 'publish-failed');
    } catch (err) {
      this.emit('error', mediaError(err, 'mic'));
    }
    this.#emitMedia();
  }

  async setCamera(on: boolean): Promise<void> {
    const room = this.#room;
    if (!room) return;
    try {
      await room.localParticipant.setCameraEnabled(on);
    } catch (err) {
      this.emit('error', mediaError(err, 'camera'));
    }
    this.#emitMedia();
  }

  async setScreenShare(on: boolean): Promise<void> {
    const room = this.#room;
    if (!room) return;
    try {
      await room.localParticipant.setScreenShareEnabled(on, { audio: false });
    } catch (err) {
      // Cancelling the browser's picker is a choice, not an error.
      if (!(err instanceof Error && err.name === 'NotAllowedError'))
        this.emit('error', mediaError(err, 'camera'));
    }
    this.#emitMedia();
  }

  /** Sends a chat message; it shows at once, marked final once the room has it. */
  async sendChat(text: string): Promise<void> {
    const room = this.#room;
    if (!room || !text.trim()) return;
    const key = `chat:local-${++this.#chatCount}`;
    const me = this.#speaker(room.localParticipant.identity);
    this.transcript.set(key, me, text, false, 'chat');
    await room.localParticipant.sendText(text, { topic: TOPIC_CHAT });
    this.transcript.set(key, me, text, true, 'chat');
  }

  /**
   * Push-to-talk: tells the agent the user holds (or released) the talk control; in such rooms it
   * hears this participant only in between. The microphone stays published throughout, so the first
   * syllable is not lost to a track being set up.
   */
  async talk(on: boolean): Promise<void> {
    const room = this.#room;
    const agent = this.#agent;
    if (!room || !agent) return;
    try {
      await room.localParticipant.performRpc({
        destinationIdentity: agent.identity,
        method: on ? RPC_PTT_START : RPC_PTT_END,
        payload: '',
      });
    } catch (err) {
      this.emit(
        'error',
        new CallError(
          'push-to-talk-failed',
          `The agent did not take push-to-talk (${errText(err)}).`,
          false,
          {
            cause: err,
          },
        ),
      );
    }
  }

  /** Ends the call and says so; idempotent. */
  async leave(): Promise<void> {
    if (this.#leaving) return;
    this.#leaving = true;
    clearTimeout(this.#agentTimer);
    const room = this.#room;
    this.#room = null;
    await room?.disconnect().catch(() => {});
    for (const el of this.#audioElements.values()) el.remove();
    this.#audioElements.clear();
    this.emit('agentAudio', null);
    this.emit('status', 'ended');
  }

  #wire(room: Room): void {
    room
      .on(RoomEvent.ParticipantConnected, (p) => this.#participantJoined(p))
      .on(RoomEvent.ParticipantDisconnected, (p) => this.#participantLeft(p))
      .on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => {
        if (p === this.#agent) this.#emitAgentState();
      })
      .on(RoomEvent.TrackSubscribed, (track, pub, p) => this.#trackSubscribed(track, pub, p))
      .on(RoomEvent.TrackUnsubscribed, (track, pub) => this.#trackUnsubscribed(track, pub))
      .on(RoomEvent.LocalTrackPublished, (pub) => this.#showLocalVideo(pub))
      .on(RoomEvent.LocalTrackUnpublished, (pub) => {
        this.#hideLocalVideo(pub);
        this.#emitMedia();
      })
      // Turning the camera off mutes (and stops) the published track rather than unpublishing it.
      .on(RoomEvent.TrackMuted, (pub, p) => {
        if (p === room.localParticipant) this.#hideLocalVideo(pub);
      })
      .on(RoomEvent.TrackUnmuted, (pub, p) => {
        if (p === room.localParticipant) this.#showLocalVideo(pub);
      })
      .on(RoomEvent.AudioPlaybackStatusChanged, () => {
        if (!room.canPlaybackAudio) {
          this.emit('error', new CallError('audio-blocked', 'The browser blocked audio playback.', false));
        } else {
          this.emit('errorCleared', 'audio-blocked');
        }
      })
      .on(RoomEvent.Reconnecting, () => this.emit('status', 'reconnecting'))
      .on(RoomEvent.Reconnected, () => {
        this.emit('status', 'connected');
        // A publish that failed while the connection was being restored gets another chance.
        if (this.#wantMic && !room.localParticipant.isMicrophoneEnabled) void this.setMicrophone(true);
      })
      .on(RoomEvent.Disconnected, (reason) => {
        // While connecting, a failure surfaces as the rejected connect() instead.
        if (this.#leaving || !this.#connected || room !== this.#room) return;
        const why = reason === undefined ? 'unknown reason' : (DisconnectReason[reason] ?? String(reason));
        this.emit('error', new CallError('disconnected', `Disconnected from the room (${why}).`, true));
        void this.leave();
      })
      .on(RoomEvent.TranscriptionReceived, (segments, p) => this.#legacyTranscription(segments, p));

    room.registerTextStreamHandler(TOPIC_TRANSCRIPTION, (reader, from) => {
      void this.#readTranscription(reader, from.identity);
    });
    room.registerTextStreamHandler(TOPIC_CHAT, (reader, from) => {
      void reader.readAll().then(
        (text) =>
          this.transcript.set(`chat:${reader.info.id}`, this.#speaker(from.identity), text, true, 'chat'),
        () => {},
      );
    });
    room.registerRpcMethod(SET_LIGHT, async (data) => {
      let state: ReturnType<typeof parseLight>;
      try {
        state = parseLight(JSON.parse(data.payload));
      } catch (err) {
        throw new RpcError(
          RpcError.ErrorCode.APPLICATION_ERROR,
          `invalid set_light payload: ${errText(err)}`,
        );
      }
      this.emit('light', state);
      return JSON.stringify({ ok: true });
    });
  }

  /**
   * One text stream is one version of a segment: chunks within it append, a later stream for the same
   * `lk.segment_id` replaces it (user transcripts are resent whole as they firm up; agent transcripts
   * stream deltas and end with the segment).
   */
  async #readTranscription(reader: TextStreamReader, senderIdentity: string): Promise<void> {
    const attrs = reader.info.attributes ?? {};
    // The speaker is whoever owns the transcribed track; the sender identity (which agents set to the
    // speaker, and LiveKit keeps for agents' text streams) is the fallback.
    const speakerIdentity = this.#trackOwner(attrs[ATTR_TRACK_ID]) ?? senderIdentity;
    const key = `${speakerIdentity}:${attrs[ATTR_SEGMENT_ID] ?? reader.info.id}`;
    const speaker = this.#speaker(speakerIdentity);
    let text = '';
    try {
      for await (const chunk of reader) {
        text += chunk;
        this.transcript.set(key, speaker, text, false);
      }
    } catch {
      // A sender that leaves mid-stream: keep what arrived.
    }
    const final = attrs[ATTR_FINAL] === 'true' || speaker.role === 'agent';
    this.transcript.set(key, speaker, text, final);
  }

  #trackOwner(trackSid: string | undefined): string | undefined {
    const room = this.#room;
    if (!trackSid || !room) return undefined;
    if (room.localParticipant.trackPublications.has(trackSid)) return room.localParticipant.identity;
    for (const p of room.remoteParticipants.values())
      if (p.trackPublications.has(trackSid)) return p.identity;
    return undefined;
  }

  #legacyTranscription(segments: TranscriptionSegment[], p?: Participant): void {
    const identity = p?.identity ?? 'unknown';
    for (const s of segments)
      this.transcript.set(`${identity}:${s.id}`, this.#speaker(identity), s.text, s.final);
  }

  #speaker(identity: string): Speaker {
    const room = this.#room;
    if (room && identity === room.localParticipant.identity) {
      return { identity, name: room.localParticipant.name || identity, role: 'self' };
    }
    const p = room?.remoteParticipants.get(identity);
    const role = p && isAgent(p) ? 'agent' : 'user';
    return { identity, name: p?.name || (role === 'agent' ? 'Agent' : identity), role };
  }

  #participantJoined(p: RemoteParticipant): void {
    if (this.#agent || !isAgent(p)) return;
    this.#agent = p;
    clearTimeout(this.#agentTimer);
    this.emit('errorCleared', 'agent-timeout');
    this.#emitAgentState();
  }

  #participantLeft(p: RemoteParticipant): void {
    for (const [key, el] of this.#audioElements) {
      if (key.startsWith(`${p.identity}:`)) {
        el.remove();
        this.#audioElements.delete(key);
      }
    }
    if (p !== this.#agent) return;
    this.#agent = null;
    this.emit('agentAudio', null);
    this.emit('agentState', 'absent');
    this.#emitPushToTalk();
    // Another agent may be dispatched (e.g. after a worker restart); say so if none comes.
    const next = [...(this.#room?.remoteParticipants.values() ?? [])].find(isAgent);
    if (next) this.#participantJoined(next);
    else this.#armAgentTimer();
  }

  #armAgentTimer(): void {
    clearTimeout(this.#agentTimer);
    const ms = this.#o.config.agentJoinTimeoutMs;
    this.#agentTimer = setTimeout(() => {
      if (this.#agent || !this.#room) return;
      this.emit(
        'error',
        new CallError('agent-timeout', `The agent did not join within ${Math.round(ms / 1000)} s.`, false),
      );
    }, ms);
  }

  #emitAgentState(): void {
    const raw = this.#agent?.attributes[ATTR_AGENT_STATE] as AgentState | undefined;
    const state = raw && AGENT_STATES.has(raw) ? raw : 'initializing';
    if (state === 'failed') {
      const why = this.#agent?.attributes[ATTR_AGENT_ERROR];
      this.emit(
        'error',
        new CallError('agent-failed', `The agent stopped working${why ? `: ${why}` : '.'}`, false),
      );
    } else if (this.#agentFailed) {
      this.emit('errorCleared', 'agent-failed');
    }
    this.#agentFailed = state === 'failed';
    this.emit('agentState', state);
    this.#emitPushToTalk();
  }

  #emitPushToTalk(): void {
    const on = this.#agent?.attributes[ATTR_AGENT_PUSH_TO_TALK] === 'true';
    if (on === this.#pushToTalk) return;
    this.#pushToTalk = on;
    this.emit('pushToTalk', on);
  }

  #trackSubscribed(track: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant): void {
    const key = `${p.identity}:${pub.trackSid}`;
    if (track.kind === Track.Kind.Audio) {
      const el = track.attach();
      el.dataset.identity = p.identity;
      el.dataset.role = isAgent(p) ? 'agent' : 'user';
      this.#o.audioSink.append(el);
      this.#audioElements.set(key, el);
      if (isAgent(p) && track.mediaStreamTrack) {
        this.emit('agentAudio', this.#o.audioContext, new MediaStream([track.mediaStreamTrack]));
      }
    } else if (track.kind === Track.Kind.Video) {
      const el = track.attach() as HTMLVideoElement;
      const label = `${p.name || p.identity}${pub.source === Track.Source.ScreenShare ? ' (screen)' : ''}`;
      this.#videoKeys.set(pub.trackSid, key);
      this.emit('video', key, label, el);
    }
  }

  #trackUnsubscribed(track: RemoteTrack, pub: RemoteTrackPublication): void {
    track.detach();
    for (const [key, el] of this.#audioElements) {
      if (key.endsWith(`:${pub.trackSid}`)) {
        el.remove();
        this.#audioElements.delete(key);
      }
    }
    const videoKey = this.#videoKeys.get(pub.trackSid);
    if (videoKey) {
      this.#videoKeys.delete(pub.trackSid);
      this.emit('video', videoKey, '', null);
    }
  }

  #showLocalVideo(pub: TrackPublication): void {
    if (pub.kind !== Track.Kind.Video || !pub.track || pub.isMuted) return;
    const el = pub.track.attach() as HTMLVideoElement;
    el.muted = true;
    const label = pub.source === Track.Source.ScreenShare ? 'Your screen' : 'You';
    this.emit('video', `local:${pub.trackSid}`, label, el);
  }

  #hideLocalVideo(pub: TrackPublication): void {
    if (pub.kind !== Track.Kind.Video) return;
    pub.track?.detach();
    this.emit('video', `local:${pub.trackSid}`, '', null);
  }

  #emitMedia(): void {
    const lp = this.#room?.localParticipant;
    this.emit('media', {
      mic: lp?.isMicrophoneEnabled ?? false,
      camera: lp?.isCameraEnabled ?? false,
      screen: lp?.isScreenShareEnabled ?? false,
    });
  }
}

function isAgent(p: Participant): boolean {
  return p.kind === ParticipantKind.AGENT;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A short, single-line version of an error body (JSON `{error}`/`{message}` or text). */
function summarise(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown; msg?: unknown };
    const msg = parsed.error ?? parsed.message ?? parsed.msg;
    if (typeof msg === 'string') return msg.slice(0, 200);
  } catch {}
  return body.replace(/\s+/g, ' ').trim().slice(0, 200);
}
