import { EventEmitter } from 'node:events';
import {
  ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  type Room,
  RoomEvent,
  RpcError,
  type RpcInvocationData,
  TrackKind,
  TrackSource,
} from '@livekit/rtc-node';
import { type AudioInput, startAudioInput } from '../audio/input.ts';
import type { RoomConfig } from '../config.ts';
import type { LiveFatalError } from '../live/errors.ts';
import { type Logger, silentLogger } from '../log.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import { boundedName, MAX_CHAT_BYTES, readChat, tooLargeReply } from './chat.ts';
import { type AgentState, Conversation, type LiveSessionFactory } from './conversation.ts';
import { InputMixer } from './mixer.ts';
import { TalkerTracker } from './talkers.ts';
import { restrictTrackAudience } from './track-permissions.ts';
import type { TranscriptSpeaker } from './transcripts.ts';
import { VideoSampler } from './video.ts';

/** Participant attribute LiveKit frontends read the agent's state from. */
export const ATTR_AGENT_STATE = 'lk.agent.state';
/** Set next to `lk.agent.state = failed`: why the agent cannot talk. */
export const ATTR_AGENT_ERROR = 'lk.agent.error';
/** `floor` policy: identity of the participant holding the floor ('' when free). */
export const ATTR_AGENT_FLOOR = 'lk.agent.floor';
/** `'true'` in push-to-talk rooms: clients show a hold-to-talk control that calls `ptt.start`/`ptt.end`. */
export const ATTR_AGENT_PUSH_TO_TALK = 'lk.agent.push_to_talk';
/** Text-stream topic of chat messages. */
export const TOPIC_CHAT = 'lk.chat';
/** RPC methods a client calls for push-to-talk (payload ignored; reply `{"ok":true}`). */
export const RPC_PTT_START = 'ptt.start';
export const RPC_PTT_END = 'ptt.end';

const INPUT_RATE = 16_000;

/** Options of a {@link RoomBridge}. */
export interface RoomBridgeOptions {
  /** A connected room (the job's). */
  room: Room;
  config: RoomConfig;
  /** Every tool the worker knows; `config.tools` picks the ones offered. */
  tools: ToolRegistry;
  /** Opens each Live session (the worker's credentials and endpoint stay with the caller). */
  liveSession: LiveSessionFactory;
  logger?: Logger;
}

/** Events of a {@link RoomBridge}. */
export type RoomBridgeEvents = {
  state: [state: AgentState];
  fatal: [error: LiveFatalError];
  /** A participant started or stopped talking (frame energy, whether forwarded or not). */
  talk: [identity: string, talking: boolean];
  /** Number of Live sessions changed. */
  sessions: [count: number];
  /** A conversation was created (before it starts): metrics and other observers attach here. */
  conversation: [conversation: Conversation];
};

interface Member {
  participant: RemoteParticipant;
  audio?: { input: AudioInput; trackSid: string; track: RemoteTrack };
  video?: { sampler: VideoSampler; trackSid: string; track: RemoteTrack };
  /** Per-participant policy: this member's own conversation. */
  conversation?: Conversation;
  joinedAt: number;
}

/**
 * Room ↔ Live bridge for several humans. Policies:
 * - `shared`: one Live session; everyone's audio mixed into it; the talker tracked so transcripts carry
 *   the right sender and the model is told who speaks, joins and leaves.
 * - `floor`: one Live session; the first to talk holds the floor and only their audio is forwarded until
 *   they have been silent for `floorReleaseMs`.
 * - `per-participant`: a Live session and an agent track per participant, transcripts only to them.
 * Push-to-talk (`pushToTalk`): only audio between a participant's `ptt.start` and `ptt.end` RPCs is
 * forwarded, framed by `activityStart`/`activityEnd` (server VAD off).
 */
export class RoomBridge extends EventEmitter<RoomBridgeEvents> {
  readonly #o: RoomBridgeOptions;
  readonly #log: Logger;
  readonly #tools: ToolRegistry;
  readonly #members = new Map<string, Member>();
  readonly #talkers = new TalkerTracker();
  readonly #ptt = new Set<string>();
  #shared: Conversation | undefined;
  #mixer: InputMixer | undefined;
  #floor: string | undefined;
  #lastSpeaker: string | undefined;
  #state: AgentState | undefined;
  #error: string | undefined;
  #closed = false;
  #listeners: [string, (...args: never[]) => void][] = [];

  constructor(o: RoomBridgeOptions) {
    super();
    this.#o = o;
    this.#log = (o.logger ?? silentLogger).child({ room: o.room.name });
    this.#tools = o.tools.select(o.config.tools);
  }

  get policy(): RoomConfig['policy'] {
    return this.#o.config.policy;
  }

  /** Open Live sessions of this room. */
  get sessionCount(): number {
    if (this.#shared) return this.#shared.sessionState === 'closed' ? 0 : 1;
    let n = 0;
    for (const m of this.#members.values())
      if (m.conversation && m.conversation.sessionState !== 'closed') n++;
    return n;
  }

  /** Aggregated agent state (what `lk.agent.state` shows). */
  get state(): AgentState | undefined {
    return this.#state;
  }

  /** The `floor` holder. */
  get floor(): string | undefined {
    return this.#floor;
  }

  async start(): Promise<void> {
    const room = this.#o.room;
    await this.#publishState('initializing');
    this.#on(RoomEvent.ParticipantConnected, (p: RemoteParticipant) => void this.#join(p));
    this.#on(RoomEvent.ParticipantDisconnected, (p: RemoteParticipant) => void this.#leave(p.identity));
    this.#on(RoomEvent.TrackSubscribed, (t: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant) =>
      this.#onTrack(t, pub, p),
    );
    this.#on(
      RoomEvent.TrackUnsubscribed,
      (_t: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant) => this.#onTrackGone(pub, p),
    );
    this.#on(RoomEvent.Disconnected, () => void this.aclose());
    if (this.policy === 'per-participant') {
      // Before the first private track exists, so no participant ever receives another's; tracks
      // republished after a reconnect get new sids, hence the two events.
      this.#restrictAudience();
      this.#on(RoomEvent.LocalTrackPublished, () => this.#restrictAudience());
      this.#on(RoomEvent.Reconnected, () => this.#restrictAudience());
    }
    room.registerTextStreamHandler(TOPIC_CHAT, (reader, { identity }) => {
      readChat(reader)
        .then((read) =>
          'text' in read ? this.#onChat(identity, read.text) : this.#refuseChat(identity, read.bytes),
        )
        .catch((err) => this.#log.warn({ err: String(err) }, 'chat: unreadable message'));
    });
    const lp = room.localParticipant!;
    lp.registerRpcMethod(RPC_PTT_START, (d) => this.#onPtt(d, true));
    lp.registerRpcMethod(RPC_PTT_END, (d) => this.#onPtt(d, false));

    if (this.policy !== 'per-participant') {
      this.#shared = this.#conversation('agent_audio');
      this.#mixer = new InputMixer((pcm) => this.#shared?.pushAudio(pcm, INPUT_RATE));
      this.#talkers.onActiveChange = (id) => {
        if (!id || this.policy !== 'shared' || id === this.#lastSpeaker) return;
        this.#lastSpeaker = id;
        if (this.#members.size > 1) this.#shared?.note(`[${this.#name(id)} is speaking]`);
      };
    }
    const starting = this.#shared?.start();
    for (const p of room.remoteParticipants.values()) await this.#join(p, true);
    await starting;
    this.emit('sessions', this.sessionCount);
  }

  async aclose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const room = this.#o.room;
    for (const [event, fn] of this.#listeners) room.off(event as RoomEvent, fn as never);
    this.#listeners = [];
    try {
      room.unregisterTextStreamHandler(TOPIC_CHAT);
    } catch {
      // Not registered (start failed early).
    }
    room.localParticipant?.unregisterRpcMethod(RPC_PTT_START);
    room.localParticipant?.unregisterRpcMethod(RPC_PTT_END);
    const closing: Promise<void>[] = [];
    for (const m of this.#members.values()) {
      if (m.audio) closing.push(m.audio.input.aclose());
      if (m.video) closing.push(m.video.sampler.aclose());
      if (m.conversation) closing.push(m.conversation.aclose());
    }
    this.#members.clear();
    if (this.#shared) closing.push(this.#shared.aclose());
    this.#shared = undefined;
    await Promise.allSettled(closing);
    this.emit('sessions', 0);
  }

  // --- participants ------------------------------------------------------------------------------

  #on<E extends RoomEvent>(event: E, fn: (...args: never[]) => void): void {
    this.#o.room.on(event, fn as never);
    this.#listeners.push([event, fn]);
  }

  /** How a participant is named in text for the model (bounded: names are set by tokens). */
  #name(identity: string): string {
    return boundedName(this.#members.get(identity)?.participant.name || identity);
  }

  async #join(p: RemoteParticipant, initial = false): Promise<void> {
    if (this.#closed || this.#members.has(p.identity) || p.kind === ParticipantKind.AGENT) return;
    const member: Member = { participant: p, joinedAt: performance.now() };
    this.#members.set(p.identity, member);
    this.#log.info({ participant: p.identity }, 'participant joined');
    if (this.policy === 'per-participant') {
      const conv = this.#conversation(privateTrackName(p.identity), p.identity);
      member.conversation = conv;
      await conv.start();
      if (this.#closed || this.#members.get(p.identity) !== member) {
        await conv.aclose();
        return;
      }
      this.#restrictAudience();
      this.emit('sessions', this.sessionCount);
    } else if (!initial || this.#members.size > 1) {
      this.#shared?.note(`[${this.#name(p.identity)} joined the room]`);
    }
    // Tracks subscribed before we knew the participant.
    for (const pub of p.trackPublications.values()) {
      if (pub.track && pub.subscribed) this.#onTrack(pub.track as RemoteTrack, pub, p);
    }
  }

  async #leave(identity: string): Promise<void> {
    const m = this.#members.get(identity);
    if (!m) return;
    this.#members.delete(identity);
    this.#log.info({ participant: identity }, 'participant left');
    this.#ptt.delete(identity);
    this.#talkers.remove(identity);
    this.#mixer?.remove(identity);
    if (this.#floor === identity) this.#setFloor(undefined);
    await Promise.allSettled([m.audio?.input.aclose(), m.video?.sampler.aclose(), m.conversation?.aclose()]);
    this.#restrictAudience();
    if (m.conversation) this.emit('sessions', this.sessionCount);
    else this.#shared?.note(`[${boundedName(m.participant.name || identity)} left the room]`);
    this.#updateState();
  }

  /**
   * `per-participant`: each private agent track may only be received by its participant, enforced by
   * the server through the agent's track subscription permissions (listeners are refused the rest).
   */
  #restrictAudience(): void {
    const lp = this.#o.room.localParticipant;
    if (this.policy !== 'per-participant' || this.#closed || !lp) return;
    const sidByName = new Map<string, string>();
    for (const pub of lp.trackPublications.values())
      if (pub.name && pub.sid) sidByName.set(pub.name, pub.sid);
    const audiences = [...this.#members.keys()].flatMap((identity) => {
      const sid = sidByName.get(privateTrackName(identity));
      return sid ? [{ participantIdentity: identity, allowedTrackSids: [sid] }] : [];
    });
    try {
      restrictTrackAudience(lp, audiences);
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'could not restrict private agent tracks to their participants');
    }
  }

  #onTrack(track: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant): void {
    const m = this.#members.get(p.identity);
    if (!m || this.#closed) return;
    const sid = pub.sid ?? track.sid ?? '';
    if (track.kind === TrackKind.KIND_AUDIO) {
      if (pub.source !== undefined && pub.source !== TrackSource.SOURCE_MICROPHONE && pub.source !== 0)
        return;
      // A full reconnect hands out new track objects (same or new sid): read from the live one.
      if (m.audio?.track === track) return;
      void m.audio?.input.aclose();
      const input = startAudioInput(track, (pcm, rate) => this.#onFrame(p.identity, pcm, rate), {
        sampleRate: INPUT_RATE,
        frameSizeMs: 20,
      });
      m.audio = { input, trackSid: sid, track };
      this.#log.info({ participant: p.identity, track: sid }, 'listening to microphone');
    } else if (track.kind === TrackKind.KIND_VIDEO && this.#o.config.video.enabled) {
      if (m.video?.track === track) return;
      void m.video?.sampler.aclose();
      const v = this.#o.config.video;
      const sampler = new VideoSampler(track, {
        fps: v.fps,
        maxSize: v.maxSize,
        quality: v.quality,
        logger: this.#log,
        attended: () => this.#attended() === p.identity,
        onFrame: (jpeg) => (m.conversation ?? this.#shared)?.sendVideo(jpeg),
      });
      m.video = { sampler, trackSid: sid, track };
    }
  }

  #onTrackGone(pub: RemoteTrackPublication, p: RemoteParticipant): void {
    const m = this.#members.get(p.identity);
    if (!m) return;
    if (m.audio && m.audio.trackSid === pub.sid) {
      void m.audio.input.aclose();
      m.audio = undefined;
      this.#mixer?.remove(p.identity);
    }
    if (m.video && m.video.trackSid === pub.sid) {
      void m.video.sampler.aclose();
      m.video = undefined;
    }
  }

  /** Whose camera the model sees: the floor holder, else the current talker, else the first with video. */
  #attended(): string | undefined {
    if (this.policy === 'per-participant') return undefined;
    const candidates = [this.#floor, this.#talkers.active, this.#lastSpeaker];
    for (const c of candidates) if (c && this.#members.get(c)?.video) return c;
    for (const [id, m] of this.#members) if (m.video) return id;
    return undefined;
  }

  // --- audio routing -----------------------------------------------------------------------------

  #onFrame(identity: string, pcm: Int16Array, rate: number): void {
    if (this.#closed) return;
    const m = this.#members.get(identity);
    if (!m) return;
    const wasTalking = this.#talkers.isTalking(identity);
    const talking = this.#talkers.push(identity, pcm, rate);
    if (talking !== wasTalking) {
      this.#log.debug({ participant: identity, talking }, 'talk activity');
      this.emit('talk', identity, talking);
    }
    if (this.#o.config.pushToTalk && !this.#ptt.has(identity)) return;
    if (m.conversation) {
      m.conversation.pushAudio(pcm, rate);
      return;
    }
    if (this.policy === 'floor' && !this.#o.config.pushToTalk) {
      if (this.#floor && this.#floor !== identity) {
        // The holder releases after enough silence; until then others are not heard.
        if (this.#talkers.silentFor(this.#floor) < this.#o.config.floorReleaseMs) return;
        this.#setFloor(undefined);
      }
      if (!this.#floor) {
        if (!talking) return;
        this.#setFloor(identity);
      }
    }
    this.#mixer?.push(identity, pcm);
  }

  #setFloor(identity: string | undefined): void {
    if (this.#floor === identity) return;
    this.#floor = identity;
    this.#log.info({ floor: identity ?? null }, 'floor');
    if (identity) this.#lastSpeaker = identity;
    const lp = this.#o.room.localParticipant;
    if (lp && this.#o.room.isConnected)
      void lp.setAttributes({ [ATTR_AGENT_FLOOR]: identity ?? '' }).catch(() => {});
  }

  /** Transcript author for the shared session. */
  #speaker(): TranscriptSpeaker | undefined {
    const id =
      this.policy === 'floor'
        ? (this.#floor ?? this.#lastSpeaker)
        : this.#o.config.pushToTalk
          ? ([...this.#ptt].at(-1) ?? this.#lastSpeaker)
          : (this.#talkers.dominant() ?? this.#lastSpeaker);
    if (!id) return undefined;
    return { identity: id, trackSid: this.#members.get(id)?.audio?.trackSid };
  }

  // --- chat, push-to-talk ------------------------------------------------------------------------

  #onChat(identity: string, text: string): void {
    const m = this.#members.get(identity);
    if (!m || !text.trim()) return;
    const conv = m.conversation ?? this.#shared;
    conv?.chat(this.#name(identity), text);
  }

  /** An oversize chat message: the model never sees it; its sender is told on `lk.chat`. */
  #refuseChat(identity: string, bytes: number | undefined): void {
    this.#log.warn({ participant: identity, bytes, max: MAX_CHAT_BYTES }, 'chat: message too large, refused');
    const lp = this.#o.room.localParticipant;
    if (!lp || this.#closed || !this.#o.room.isConnected) return;
    lp.sendText(tooLargeReply(bytes), { topic: TOPIC_CHAT, destinationIdentities: [identity] }).catch((err) =>
      this.#log.warn({ err: String(err) }, 'chat: cannot tell the sender'),
    );
  }

  async #onPtt(d: RpcInvocationData, start: boolean): Promise<string> {
    if (!this.#o.config.pushToTalk) {
      throw new RpcError(RpcError.ErrorCode.APPLICATION_ERROR, 'push-to-talk is not enabled for this room');
    }
    const m = this.#members.get(d.callerIdentity);
    if (!m) throw new RpcError(RpcError.ErrorCode.APPLICATION_ERROR, 'unknown participant');
    const conv = m.conversation ?? this.#shared;
    if (start && !this.#ptt.has(d.callerIdentity)) {
      this.#ptt.add(d.callerIdentity);
      this.#lastSpeaker = d.callerIdentity;
      if (m.conversation || this.#ptt.size === 1) conv?.pttStart();
    } else if (!start && this.#ptt.delete(d.callerIdentity)) {
      if (m.conversation || this.#ptt.size === 0) conv?.pttEnd();
    }
    return JSON.stringify({ ok: true });
  }

  // --- conversations and state -------------------------------------------------------------------

  #conversation(trackName: string, audience?: string): Conversation {
    const conv = new Conversation({
      room: this.#o.room,
      config: this.#o.config,
      tools: this.#tools,
      liveSession: this.#o.liveSession,
      logger: this.#log,
      trackName,
      ...(audience && { audience }),
      speaker: audience
        ? () => ({ identity: audience, trackSid: this.#members.get(audience)?.audio?.trackSid })
        : () => this.#speaker(),
      participants: () =>
        [...this.#members.values()]
          .sort((a, b) => a.joinedAt - b.joinedAt)
          .map((m) => m.participant.identity),
    });
    conv.on('state', () => this.#updateState());
    conv.on('userTurn', () => this.#talkers.resetTurn());
    conv.on('fatal', (err) => {
      this.#error = err.message;
      this.#log.error({ kind: err.kind, code: err.code }, `Gemini Live session failed: ${err.message}`);
      this.emit('fatal', err);
      this.emit('sessions', this.sessionCount);
      this.#updateState();
    });
    this.emit('conversation', conv);
    return conv;
  }

  #updateState(): void {
    if (this.#closed) return;
    const convs = this.#shared
      ? [this.#shared]
      : [...this.#members.values()].flatMap((m) => m.conversation ?? []);
    const states = convs.map((c) => c.state);
    const order: AgentState[] = ['speaking', 'thinking', 'listening', 'initializing', 'failed'];
    let state: AgentState = convs.length ? 'failed' : 'listening';
    for (const s of order) {
      if (states.includes(s)) {
        state = s;
        break;
      }
    }
    void this.#publishState(state);
  }

  async #publishState(state: AgentState): Promise<void> {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
    const lp = this.#o.room.localParticipant;
    if (!lp || !this.#o.room.isConnected) return;
    const attrs: Record<string, string> = { [ATTR_AGENT_STATE]: state };
    if (this.#o.config.pushToTalk) attrs[ATTR_AGENT_PUSH_TO_TALK] = 'true';
    if (state === 'failed') attrs[ATTR_AGENT_ERROR] = this.#error ?? 'unknown error';
    await lp
      .setAttributes(attrs)
      .catch((err) => this.#log.warn({ err: String(err) }, 'cannot set agent state'));
  }
}

/** The agent track a `per-participant` room gives each participant. */
function privateTrackName(identity: string): string {
  return `agent_audio_${identity}`;
}
