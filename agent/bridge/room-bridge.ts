import { EventEmitter } from 'node:events';
import {
  ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  type Room,
  RoomEvent,
  TrackKind,
  TrackSource,
} from '@livekit/rtc-node';
import { LIVE_INPUT_RATE } from '../../shared/audio/rates.ts';
import type { Backend } from '../../shared/gemini-models/index.ts';
import { type AudioInput, startAudioInput } from '../audio/input.ts';
import type { Checkpoint, CheckpointState, SessionState } from '../checkpoint/state.ts';
import type { RoomConfig } from '../config.ts';
import type { LiveFatalError } from '../live/errors.ts';
import { type Logger, silentLogger } from '../log.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import { AgentAttributes } from './agent-state.ts';
import { boundedName, type ChatMessage } from './chat.ts';
import { ChatInbox } from './chat-inbox.ts';
import { Conversation } from './conversation.ts';
import type { AgentState, ConversationRelease, LiveSessionFactory } from './conversation-types.ts';
import { InputPolicy } from './input-policy.ts';
import { PreConnectAudio } from './pre-connect.ts';
import { servePushToTalk } from './push-to-talk.ts';
import { restrictTrackAudience } from './track-permissions.ts';
import { VideoSampler } from './video.ts';

/** Options of a {@link RoomBridge}. */
export interface RoomBridgeOptions {
  /** A connected room (the job's). */
  room: Room;
  config: RoomConfig;
  /** Every tool the worker knows; `config.tools` picks the ones offered. */
  tools: ToolRegistry;
  /** Opens each Live session (the worker's credentials and endpoint stay with the caller). */
  liveSession: LiveSessionFactory;
  /** Where the Live sessions run (`liveSession`'s backend), for the model's catalogue entry; default `gemini`. */
  backend?: Backend;
  /**
   * Pre-connect audio buffers, listening since before the room connected (a client sends its buffer the
   * moment the agent is active); the bridge takes it over. Without it the bridge listens from `start()`.
   */
  preConnect?: PreConnectAudio;
  /**
   * Where an earlier job left this room's conversation (its checkpoint, agent/checkpoint/): sessions
   * resume with their handles (or start seeded with their transcript tails), the floor and push-to-talk
   * holds are restored, and the people already here are not announced again (the model knows them).
   */
  resume?: BridgeResume;
  /**
   * A hand-off (agent/handoff/): called once the bridge listens to everyone already here (with
   * `resume` = the checkpoint the dispatch named); it tells the old job so and resolves when the old job
   * has closed its Live sessions, with their final state. Until then the bridge takes input but opens no
   * Live session; `start()` rejects with its error when it rejects.
   */
  handoff?: () => Promise<BridgeRelease>;
  logger?: Logger;
}

/** The end of a hand-off: the instant the old job's sessions stopped taking input, and their last state. */
export interface BridgeRelease {
  at: number;
  resume: BridgeResume;
}

/** What a bridge resumes from (the checkpoint's conversation state). */
export type BridgeResume = Pick<
  Checkpoint,
  'handle' | 'handleAt' | 'sinceHandle' | 'transcript' | 'private' | 'floor' | 'pushToTalk'
>;

/** What a checkpoint keeps of a bridge: its sessions and the multi-user state. */
export type BridgeCheckpointState = Pick<
  CheckpointState,
  'handle' | 'handleAt' | 'sinceHandle' | 'transcript' | 'private' | 'floor' | 'pushToTalk' | 'policy'
>;

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
  /** A participant's `lk.chat` message was handed to `conversation`'s Live session. */
  chat: [identity: string, text: string, conversation: Conversation];
  /** A turn ended or a resumption handle arrived: the state a checkpoint keeps changed. */
  checkpoint: [];
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
 * Room ↔ Live bridge for several humans: who is in the room and which of their tracks are read. What of
 * their audio reaches which Live session is the {@link InputPolicy}'s (`shared`, `floor`,
 * `per-participant`, push-to-talk); what clients see of the agent is {@link AgentAttributes}'; `lk.chat`
 * is the {@link ChatInbox}'s.
 */
export class RoomBridge extends EventEmitter<RoomBridgeEvents> {
  readonly #o: RoomBridgeOptions;
  readonly #log: Logger;
  #tools: ToolRegistry;
  readonly #members = new Map<string, Member>();
  readonly #attrs: AgentAttributes;
  readonly #chat: ChatInbox;
  readonly #preConnect: PreConnectAudio;
  #policy: InputPolicy | undefined;
  #shared: Conversation | undefined;
  #error: string | undefined;
  #closed = false;
  #listeners: [string, (...args: never[]) => void][] = [];
  #stopPtt: (() => void) | undefined;
  /** Private sessions of the checkpoint not taken up yet, by identity (each resumes once). */
  readonly #resumePrivate: Map<string, SessionState>;
  /** The checkpoint state when the bridge closed (a final write comes after). */
  #finalState: BridgeCheckpointState | undefined;
  /** A hand-off's release (see {@link RoomBridgeOptions.handoff}). */
  readonly #release:
    | { promise: Promise<BridgeRelease>; resolve: (r: BridgeRelease) => void; reject: (e: unknown) => void }
    | undefined;

  constructor(o: RoomBridgeOptions) {
    super();
    this.#o = o;
    if (o.handoff) {
      let resolve!: (r: BridgeRelease) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<BridgeRelease>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {}); // each held conversation handles it
      this.#release = { promise, resolve, reject };
    }
    this.#log = (o.logger ?? silentLogger).child({ room: o.room.name });
    this.#tools = o.tools.select(o.config.tools ?? o.tools.names);
    this.#resumePrivate = new Map(Object.entries(o.resume?.private ?? {}));
    this.#attrs = new AgentAttributes({
      room: o.room,
      pushToTalk: o.config.pushToTalk,
      logger: this.#log,
      onState: (s) => this.emit('state', s),
    });
    this.#preConnect = o.preConnect ?? new PreConnectAudio({ room: o.room, logger: this.#log });
    this.#chat = new ChatInbox({
      room: o.room,
      logger: this.#log,
      recipient: (identity) => {
        const m = this.#members.get(identity);
        const conversation = m && (m.conversation ?? this.#shared);
        return conversation && { conversation, name: this.#name(identity), private: !!m.conversation };
      },
      forwarded: (identity, text, conversation) => this.emit('chat', identity, text, conversation),
    });
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
    return this.#attrs.state;
  }

  /** The `floor` holder. */
  get floor(): string | undefined {
    return this.#policy?.floor;
  }

  /** What a checkpoint keeps of this room now: each session's handle and transcript tail, floor, holds. */
  checkpointState(): BridgeCheckpointState {
    if (this.#finalState) return this.#finalState;
    const priv: Record<string, SessionState> = {};
    for (const [identity, m] of this.#members)
      if (m.conversation && m.conversation.sessionState !== 'closed')
        priv[identity] = m.conversation.checkpointState;
    const shared = this.#shared?.checkpointState ?? { transcript: [] };
    const floor = this.floor;
    return {
      ...shared,
      policy: this.policy,
      private: priv,
      ...(floor && { floor }),
      pushToTalk: this.#policy?.pushToTalkHolders ?? [],
    };
  }

  async start(): Promise<void> {
    const room = this.#o.room;
    await this.#attrs.show('initializing');
    const resume = this.#o.resume;
    if (this.policy !== 'per-participant')
      this.#shared = this.#conversation(
        'agent_audio',
        undefined,
        resume && sharedState(resume),
        this.#release?.promise.then((r) => ({ at: r.at, resume: sharedState(r.resume) })),
      );
    const policy = new InputPolicy({
      config: this.#o.config,
      ...(this.#shared && { shared: this.#shared }),
      name: (identity) => this.#name(identity),
      logger: this.#log,
    });
    policy.on('talk', (identity, talking) => this.emit('talk', identity, talking));
    policy.on('floor', (identity) => this.#attrs.showFloor(identity));
    this.#policy = policy;
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
    this.#chat.start();
    this.#preConnect.listen();
    this.#stopPtt = servePushToTalk(room.localParticipant!, (identity, start) =>
      policy.pushToTalk(identity, start),
    );
    const starting = this.#shared?.start();
    const handoff = this.#o.handoff;
    if (handoff && this.#release) {
      // Everyone here at once (a private conversation waits for the release in its join), then the
      // old job is told we listen.
      const joins = Promise.all([...room.remoteParticipants.values()].map((p) => this.#join(p, true)));
      if (resume) policy.restore(resume);
      handoff().then(this.#release.resolve, this.#release.reject);
      await this.#release.promise;
      await joins;
    } else {
      for (const p of room.remoteParticipants.values()) await this.#join(p, true);
      if (resume) policy.restore(resume);
    }
    await starting;
    this.emit('sessions', this.sessionCount);
  }

  /**
   * The room's tools from now on, as they are (no `config.tools` selection): every open Live session
   * gets their declarations at once (`Conversation.updateTools`), sessions opened later at setup. For
   * MCP servers that come up after the room started, or change their tools.
   */
  updateTools(tools: ToolRegistry): void {
    if (this.#closed) return;
    const before = this.#tools.names.join();
    this.#tools = tools;
    const convs = [this.#shared, ...[...this.#members.values()].map((m) => m.conversation)];
    for (const c of convs) c?.updateTools(tools);
    // A server back after a crash lists the same tools: not news.
    if (tools.names.join() !== before) this.#log.info({ tools: tools.names }, 'tools changed');
  }

  /**
   * A chat message that came another way than `lk.chat` to this job (a hand-off's old job passes on
   * what reached it after its sessions closed): handled as if it had, once per message id.
   */
  relayChat(identity: string, text: string, id: string): void {
    this.#chat.receive(identity, text, id);
  }

  /**
   * From now on — also after {@link aclose}, until the room disconnects — chat messages go to `to`
   * instead of a Live session, those being read included (a hand-off's old job passes them on).
   */
  passChatOn(to: (chat: ChatMessage) => void): void {
    this.#chat.redirect(to);
  }

  async aclose(): Promise<void> {
    if (this.#closed) return;
    this.#finalState = this.checkpointState();
    this.#closed = true;
    const room = this.#o.room;
    for (const [event, fn] of this.#listeners) room.off(event as RoomEvent, fn as never);
    this.#listeners = [];
    this.#chat.close();
    this.#preConnect.close();
    this.#stopPtt?.();
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
      const resumed = this.#resumePrivate.get(p.identity);
      this.#resumePrivate.delete(p.identity);
      const conv = this.#conversation(
        privateTrackName(p.identity),
        p.identity,
        resumed,
        this.#release?.promise.then((r) => ({ at: r.at, resume: r.resume.private[p.identity] })),
      );
      member.conversation = conv;
      this.#policy?.join(p.identity, conv);
      await conv.start();
      if (this.#closed || this.#members.get(p.identity) !== member) {
        await conv.aclose();
        return;
      }
      this.#restrictAudience();
      this.emit('sessions', this.sessionCount);
    } else {
      this.#policy?.join(p.identity);
      // Resuming, the people already here are in the model's context (or its transcript tail).
      if (!initial || (this.#members.size > 1 && !this.#o.resume))
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
    this.#policy?.leave(identity);
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

  // --- tracks ------------------------------------------------------------------------------------

  #onTrack(track: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant): void {
    const m = this.#members.get(p.identity);
    const policy = this.#policy;
    if (!m || !policy || this.#closed) return;
    const sid = pub.sid ?? track.sid ?? '';
    if (track.kind === TrackKind.KIND_AUDIO) {
      if (pub.source !== undefined && pub.source !== TrackSource.SOURCE_MICROPHONE && pub.source !== 0)
        return;
      // A full reconnect hands out new track objects (same or new sid): read from the live one.
      if (m.audio?.track === track) return;
      void m.audio?.input.aclose();
      // Audio the client recorded before the agent was there goes first (pre-connect.ts).
      const mic = this.#preConnect.input(
        p.identity,
        pub,
        (frame) => policy.frame(p.identity, frame),
        () => policy.hears(p.identity),
      );
      const input = startAudioInput(track, mic.frame, {
        sampleRate: LIVE_INPUT_RATE,
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
        attended: () => policy.attended((id) => !!this.#members.get(id)?.video) === p.identity,
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
      this.#policy?.microphoneGone(p.identity);
    }
    if (m.video && m.video.trackSid === pub.sid) {
      void m.video.sampler.aclose();
      m.video = undefined;
    }
  }

  // --- conversations and state -------------------------------------------------------------------

  #conversation(
    trackName: string,
    audience?: string,
    resume?: SessionState,
    hold?: Promise<ConversationRelease>,
  ): Conversation {
    const speaker = (identity: string | undefined) =>
      identity && { identity, trackSid: this.#members.get(identity)?.audio?.trackSid };
    const conv = new Conversation({
      room: this.#o.room,
      config: this.#o.config,
      tools: this.#tools,
      liveSession: this.#o.liveSession,
      ...(this.#o.backend && { backend: this.#o.backend }),
      logger: this.#log,
      trackName,
      ...(audience && { audience }),
      ...(resume && { resume }),
      ...(hold && { hold }),
      speaker: () => speaker(audience ?? this.#policy?.speaker()) || undefined,
      talking: () => this.#policy?.talking(audience) ?? false,
      participants: () =>
        [...this.#members.values()]
          .sort((a, b) => a.joinedAt - b.joinedAt)
          .map((m) => m.participant.identity),
    });
    conv.on('state', () => this.#updateState());
    conv.on('userTurn', () => {
      this.#policy?.turnEnded();
      this.emit('checkpoint');
    });
    conv.on('agentTurn', () => this.emit('checkpoint'));
    // A crash mid-reply then leaves what the reply had said (interval-bound like every write).
    conv.on('agentText', () => this.emit('checkpoint'));
    conv.on('handle', () => this.emit('checkpoint'));
    conv.on('fatal', (err) => {
      this.#error = err.message;
      this.#log.error({ kind: err.kind, code: err.code }, `Gemini Live session failed: ${err.message}`);
      this.emit('fatal', err);
      this.emit('sessions', this.sessionCount);
      this.#updateState();
    });
    this.#chat.watch(conv);
    conv.on('inputRefused', ({ kind, bytes, limit, by }) => {
      // Never the content; chat refusals are answered (and logged) by the chat inbox.
      if (kind !== 'text')
        this.#log.warn({ track: trackName, kind, bytes, limit, by }, 'input refused as too large');
    });
    this.emit('conversation', conv);
    return conv;
  }

  #updateState(): void {
    if (this.#closed) return;
    const convs = this.#shared
      ? [this.#shared]
      : [...this.#members.values()].flatMap((m) => m.conversation ?? []);
    void this.#attrs.showCombined(
      convs.map((c) => c.state),
      this.#error,
    );
  }
}

/** The shared conversation's part of a checkpoint. */
function sharedState(r: BridgeResume): SessionState {
  return {
    ...(r.handle && { handle: r.handle }),
    ...(r.handleAt !== undefined && { handleAt: r.handleAt }),
    ...(r.sinceHandle !== undefined && { sinceHandle: r.sinceHandle }),
    transcript: r.transcript,
  };
}

/** The agent track a `per-participant` room gives each participant. */
function privateTrackName(identity: string): string {
  return `agent_audio_${identity}`;
}
