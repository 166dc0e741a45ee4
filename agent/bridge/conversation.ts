import { EventEmitter } from 'node:events';
import { type LocalTrackPublication, TrackPublishOptions, TrackSource } from '@livekit/rtc-node';
import { liveModel } from '../../shared/gemini-models/index.ts';
import { AudioOutput } from '../audio/output.ts';
import { type SessionState, tailTurn } from '../checkpoint/state.ts';
import type { LiveSession, LiveSessionState } from '../live/session.ts';
import { buildLiveConfig, liveApiVersion } from '../live/setup.ts';
import type { Logger } from '../log.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import { ToolRunner } from '../tools/runner.ts';
import { chatForModel } from './chat.ts';
import type {
  AgentState,
  ConversationEvents,
  ConversationOptions,
  ConversationRelease,
  TurnActivity,
} from './conversation-types.ts';
import { HeldInput } from './held-input.ts';
import { TranscriptTail } from './transcript-tail.ts';
import { TranscriptSegment } from './transcripts.ts';

/**
 * One Live session and the agent voice that answers it: model audio to its own track, barge-in, tool
 * calls, transcripts of both sides, and the `lk.agent.state` it implies. The bridge decides what input
 * reaches it.
 */
export class Conversation extends EventEmitter<ConversationEvents> {
  private readonly live: LiveSession;
  private readonly output: AudioOutput;
  readonly #o: ConversationOptions;
  readonly #runner: ToolRunner;
  readonly #log: Logger;
  #publication: LocalTrackPublication | undefined;
  #state: AgentState = 'initializing';
  #userSeg: TranscriptSegment | undefined;
  #agentSeg: TranscriptSegment | undefined;
  #closed = false;
  /** The checkpoint's transcript tail and where the current handle stands in it. */
  readonly #tail: TranscriptTail;
  /** Input while held (see {@link ConversationOptions.hold}); undefined once released. */
  #held: HeldInput | undefined;
  /** Epoch ms of the last sign of a reply under way: a state change, model output, a tool call or result. */
  #signAt = Date.now();

  constructor(o: ConversationOptions) {
    super();
    this.#o = o;
    this.#log = o.logger.child({ conversation: o.trackName });
    this.output = new AudioOutput({ trackName: o.trackName });
    const backend = o.backend ?? 'gemini';
    const apiVersion = liveApiVersion(o.config, backend);
    this.#tail = new TranscriptTail(o.audience);
    const catchUp = o.resume ? this.#tail.resume(o.resume) : [];
    const seed = this.#tail.seed();
    if (o.hold) this.#held = new HeldInput();
    this.live = o.liveSession({
      ...(apiVersion && { apiVersion }),
      model: o.config.model,
      config: buildLiveConfig(o.config, o.tools.declarations(), backend),
      logger: this.#log,
      ...(o.resume?.handle && { resumeHandle: o.resume.handle }),
      ...(seed.length > 0 && { seed }),
      reseed: () => this.#tail.seed(),
      ...(catchUp.length > 0 && { catchUp }),
      answerCatchUp: () => !(o.talking?.() ?? false),
    });
    const lp = () => o.room.localParticipant;
    this.#runner = new ToolRunner({
      registry: o.tools,
      respond: (rs) => this.live.sendToolResponse(rs),
      defaultTimeoutMs: o.config.toolTimeoutMs,
      model: liveModel(o.config.model, backend),
      context: () => {
        const who = o.audience ?? o.speaker()?.identity;
        return {
          logger: this.#log,
          ...(who && { participantIdentity: who }),
          participants: o.participants,
          performRpc: (p) => {
            const participant = lp();
            if (!participant) return Promise.reject(new Error('not connected to the room'));
            return participant.performRpc({
              destinationIdentity: p.destinationIdentity,
              method: p.method,
              payload: p.payload,
              ...(p.responseTimeoutMs && { responseTimeout: p.responseTimeoutMs }),
            });
          },
        };
      },
    });
    this.#runner.on('started', (c) => {
      this.#signAt = Date.now();
      this.#log.info({ tool: c.name, id: c.id }, 'tool call');
      this.emit('toolStarted', c);
    });
    this.#runner.on('finished', (c) => {
      this.#signAt = Date.now();
      this.#log.info(
        { tool: c.name, id: c.id, ok: c.ok, error: c.error, cancelled: c.cancelled },
        'tool done',
      );
      this.emit('toolFinished', c);
    });
    this.#wire();
    this.#forward();
  }

  get state(): AgentState {
    return this.#state;
  }

  /**
   * What of a turn is pending, for a drain (agent/ops/job.ts). Playout and tools end on their own; a
   * reply owed may never come (a transcription that arrived after the turn ended, a model that let the
   * input pass in silence, a lost `turnComplete`), so it comes with how long the model has been silent
   * about it and the drain decides how long to believe in it.
   */
  get turn(): TurnActivity {
    const owed = this.live.generating || this.#state === 'thinking';
    return {
      playing: this.output.speaking,
      tools: this.#runner.pending,
      replySilentMs: owed ? Date.now() - this.#signAt : undefined,
    };
  }

  /** Where the Live session is (`closed` once it ended for good). */
  get sessionState(): LiveSessionState {
    return this.live.state;
  }

  /** Name of the agent's audio track for this conversation. */
  get trackName(): string {
    return this.#o.trackName;
  }

  /** The agent track's sid once published. */
  get trackSid(): string | undefined {
    return this.#publication?.sid;
  }

  /** What a checkpoint keeps of this conversation, with the turns under way (see {@link TranscriptTail.checkpoint}). */
  get checkpointState(): SessionState {
    const user = this.#userSeg;
    return this.#tail.checkpoint(this.live.handle, {
      agent: this.#agentSeg?.text,
      user: user && { text: user.text, speaker: user.speaker?.identity },
    });
  }

  /** Publishes the agent track and opens the Live session. Never throws for Live failures (see `fatal`). */
  async start(): Promise<void> {
    const lp = this.#o.room.localParticipant;
    if (!lp) throw new Error('room not connected');
    const opts = new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE });
    this.#publication = await lp.publishTrack(this.output.track, opts);
    if (this.#o.hold && !(await this.#release(this.#o.hold))) return;
    try {
      await this.live.start();
    } catch {
      // Reported through the 'fatal' event.
    }
  }

  pushAudio(pcm: Int16Array, sampleRate: number): void {
    if (this.#held) {
      this.#held.pushAudio(pcm, sampleRate);
      return;
    }
    this.live.sendAudio(pcm, sampleRate);
  }

  /** Waits for a hand-off's release; false when it failed (the session is not opened). */
  async #release(hold: Promise<ConversationRelease>): Promise<boolean> {
    let r: ConversationRelease;
    try {
      r = await hold;
    } catch {
      this.#held = undefined;
      return false;
    }
    if (this.#closed) return false;
    if (r.resume) {
      const catchUp = this.#tail.resume(r.resume);
      this.live.resumeFrom({
        ...(r.resume.handle && { resumeHandle: r.resume.handle }),
        seed: this.#tail.seed(),
        catchUp,
      });
    }
    const held = this.#held ?? new HeldInput();
    this.#held = undefined;
    // Chat: both jobs were in the room, so both received what was sent meanwhile; the ids in the old
    // job's final checkpoint are what its session had (answered, or owed and caught up on above).
    const had = new Set(r.resume?.transcript.flatMap((t) => (t.chat ? [t.chat] : [])));
    const out = held.release(r.at, had);
    for (const f of out.audio) this.live.sendAudio(f.pcm, f.sampleRate);
    for (const c of out.chats) this.chat(c.from, c.text, c.id);
    this.#log.info(
      {
        heldMs: Math.round(out.heldMs),
        droppedMs: Math.round(out.droppedMs),
        chats: out.chats.length,
        droppedChats: out.droppedChats,
      },
      'hand-off: input held during the switch goes to the model',
    );
    return true;
  }

  sendVideo(jpeg: Uint8Array): void {
    this.live.sendVideo(jpeg, 'image/jpeg');
  }

  /**
   * A chat message from a participant: the model answers it aloud. False when it will not reach the
   * model (session closed, or refused as too large: `inputRefused` says so). `id` (the `lk.chat`
   * stream's) goes with it into the checkpoint. Held for a hand-off, it waits for the release.
   */
  chat(from: string, text: string, id?: string): boolean {
    if (this.#closed) return false;
    if (this.#held) {
      this.#held.chat(from, text, id);
      return true;
    }
    const sent = this.live.sendText(chatForModel(from, text, this.#o.audience !== undefined));
    if (sent) {
      this.#tail.push({ ...tailTurn('user', text, from), ...(id && { chat: id }) });
      this.#setState('thinking');
    }
    return sent;
  }

  /**
   * Context for the model (joins, leaves, who speaks). The Live session holds it until the model is
   * between replies and sends it by the model's `clientContent` rule.
   */
  note(text: string): void {
    this.live.sendContext(text);
  }

  /**
   * Offers the model another set of tools from now on (an MCP server came up late or changed its
   * list): declared as the setup would declare them, calls looked up in `tools`.
   */
  updateTools(tools: ToolRegistry): void {
    if (this.#closed) return;
    this.#runner.registry = tools;
    const backend = this.#o.backend ?? 'gemini';
    this.live.updateTools(buildLiveConfig(this.#o.config, tools.declarations(), backend).tools ?? []);
  }

  pttStart(): void {
    this.output.clear();
    this.live.activityStart();
    this.#setState('listening');
  }

  pttEnd(): void {
    this.live.activityEnd();
    this.#setState('thinking');
  }

  async aclose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#runner.aclose();
    await this.live.aclose();
    await Promise.all([this.#userSeg?.finish(), this.#agentSeg?.finish()]);
    const lp = this.#o.room.localParticipant;
    if (this.#publication?.sid && lp && this.#o.room.isConnected) {
      await lp.unpublishTrack(this.#publication.sid).catch(() => {});
    }
    await this.output.aclose();
  }

  #setState(s: AgentState): void {
    if (this.#state === s || this.#state === 'failed' || this.#closed) return;
    this.#state = s;
    this.#signAt = Date.now();
    this.emit('state', s);
  }

  #finishUser(): void {
    const seg = this.#userSeg;
    if (!seg) return;
    this.#userSeg = undefined;
    void seg.finish();
    this.#tail.push(tailTurn('user', seg.text, seg.speaker?.identity));
    this.emit('userTurn', seg.speaker, seg.text);
  }

  #finishAgent(interrupted = false): void {
    const seg = this.#agentSeg;
    if (!seg) return;
    this.#agentSeg = undefined;
    void seg.finish({ interrupted });
    this.#tail.push(tailTurn('model', seg.text, undefined, interrupted));
    this.emit('agentTurn', seg.text, { interrupted });
  }

  /** The Live session's events observers need, as the conversation's own (see {@link ConversationEvents}). */
  #forward(): void {
    const live = this.live;
    live.on('ready', (info) => this.emit('ready', info));
    live.on('reconnecting', (info) => this.emit('reconnecting', info));
    live.on('contextLost', () => this.emit('contextLost'));
    live.on('contextRebuilt', (info) => this.emit('contextRebuilt', info));
    live.on('caughtUp', (info) => this.emit('caughtUp', info));
    live.on('handle', (handle, info) => {
      this.#tail.handleArrived(info.early);
      this.emit('handle', handle, info);
    });
    live.on('inputTranscription', () => this.emit('inputTranscription', { overReply: live.generating }));
    live.on('audio', () => this.emit('audio'));
    live.on('usage', (u) => this.emit('usage', u));
    live.on('turnComplete', () => this.emit('turnComplete'));
    live.on('interrupted', () => this.emit('interrupted'));
    live.on('inputRefused', (refusal) => this.emit('inputRefused', refusal));
    live.on('closed', () => this.emit('closed'));
  }

  #wire(): void {
    const live = this.live;
    const lp = () => this.#o.room.localParticipant;
    // Signs that a reply is on its way (what `turn.replySilentMs` counts from).
    const sign = () => {
      this.#signAt = Date.now();
    };
    live.on('audio', sign);
    live.on('outputTranscription', sign);
    live.on('inputTranscription', sign);
    live.on('toolCall', sign);
    live.on('ready', sign);
    const destinations = this.#o.audience ? [this.#o.audience] : undefined;
    live.on('ready', () => {
      if (this.#state === 'initializing') this.#setState('listening');
    });
    // Back after a crash, it goes on with the answer it owed (see LiveSessionOptions.catchUp).
    live.on('caughtUp', ({ answered }) => {
      if (answered) this.#setState('thinking');
    });
    live.on('audio', (pcm, rate) => {
      this.#finishUser();
      this.output.push(pcm, rate);
    });
    live.on('inputTranscription', (text) => {
      this.#log.debug({ text }, 'heard');
      const participant = lp();
      if (!participant) return;
      if (!this.#userSeg) {
        const speaker = this.#o.speaker();
        if (!speaker) return;
        this.#userSeg = new TranscriptSegment(participant, speaker, this.#log, destinations);
      }
      this.#userSeg.push(text);
      if (this.#state === 'listening') this.#setState('thinking');
    });
    live.on('outputTranscription', (text) => {
      this.#finishUser();
      const participant = lp();
      if (!participant) return;
      this.#agentSeg ??= new TranscriptSegment(
        participant,
        { identity: participant.identity, trackSid: this.trackSid },
        this.#log,
        destinations,
      );
      this.#agentSeg.push(text);
      this.emit('agentText');
    });
    live.on('interrupted', () => {
      // Barge-in: what is queued of the reply is never played. A chat message that cut the reply is
      // owed its answer: the agent thinks (a hand-off or drain must not take it for a quiet moment).
      this.output.clear();
      this.#finishAgent(true);
      this.#setState(this.live.replyOwed ? 'thinking' : 'listening');
    });
    live.on('reconnecting', ({ reason }) => {
      // A reply cut by a lost connection never continues: the next connection answers afresh (the
      // replayed input), so the cut one is closed here, marked interrupted, and the new one gets its
      // own segment instead of landing after the cut text.
      // (A goAway migration lets the reply finish, or reports the cut as 'interrupted' itself.)
      if (reason !== 'closed' || !(this.#agentSeg || this.live.generating)) return;
      this.output.clear();
      this.#finishAgent(true);
      this.#setState('listening');
    });
    live.on('turnComplete', () => {
      this.output.flush();
      this.#finishUser();
      this.#finishAgent();
      // (The end of a turn a chat message cut leaves that message's answer owed: still thinking.)
      if (this.live.replyOwed) return;
      if (!this.output.speaking && (this.#state === 'thinking' || this.#state === 'speaking')) {
        this.#setState('listening');
      } else if (this.output.speaking && this.#state === 'thinking') {
        // The turn ended and its speech still plays: a chat (or tool call) while the agent spoke, whose
        // reply followed on in the same playout, which never starts again. Left 'thinking', only
        // 'speaking' ends with the playout: the agent would think for good (and a drain wait for it).
        this.#setState('speaking');
      }
    });
    live.on('toolCall', (calls) => {
      this.#finishUser();
      // The model waits only for blocking calls; around non-blocking ones (3.8's default) it talks on.
      if (this.#runner.blocks(calls)) this.#setState('thinking');
      void this.#runner.handle(calls);
    });
    live.on('toolCallCancellation', (ids) => this.#runner.cancel(ids));
    live.on('inputRefused', ({ kind }) => {
      // A chat message the service refused after it was sent (1009) asks for no reply after all.
      if (kind === 'text' && this.#state === 'thinking' && !this.live.generating) this.#setState('listening');
    });
    live.on('fatal', (err) => {
      this.#state = 'failed';
      // The reason first, so that whoever shows the state can show why.
      this.emit('fatal', err);
      this.emit('state', 'failed');
    });
    this.output.on('playoutStarted', () => {
      this.#log.debug('speaking');
      this.#setState('speaking');
    });
    this.output.on('playoutFinished', ({ interrupted }) => {
      // A gap in a reply still streaming in is not the end of speaking.
      if (this.#state === 'speaking' && (interrupted || !this.live.generating)) this.#setState('listening');
    });
  }
}
