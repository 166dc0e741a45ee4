import type { GoogleGenAI, LiveServerMessage, Modality, Session } from '@google/genai';
import { MicCapture } from './audio/mic-capture.ts';
import { base64ToInt16, int16ToBase64, rateOf } from './audio/pcm.ts';
import { PcmPlayer } from './audio/pcm-player.ts';
import { type Call, CallError, type CallEvents, type JoinOptions, mediaError, tokenError } from './call.ts';
import type { DemoConfig } from './config.ts';
import { Emitter } from './emitter.ts';
import { parseLight, SET_LIGHT, setLightDeclaration } from './light.ts';
import { type Speaker, Transcript } from './transcript.ts';
import { VideoSampler } from './video-sampler.ts';

export interface DirectCallOptions {
  config: DemoConfig;
  /** The page's audio context (created on the join click, so it may play). */
  audioContext: AudioContext;
}

/** The parts of the token server's `POST /gemini/token` answer the page uses. */
export interface EphemeralToken {
  /** `auth_tokens/…`, used in place of an API key for one session. */
  token: string;
  /** Model locked into the token. */
  model?: string;
  /** API version the token works on (ephemeral tokens: `v1alpha`). */
  apiVersion: string;
  /** Service that minted the token (absent: Google's default endpoint). */
  baseUrl?: string;
}

const MODEL_VOICE: Speaker = { identity: 'gemini', name: 'Gemini', role: 'agent' };
/** Longest wait for the old connection's close before a resume, ms (the service refuses one while it is open). */
const CLOSE_WAIT_MS = 2000;

/**
 * Direct mode, the Live API's client-to-server approach: the page fetches a short-lived ephemeral token
 * from the token server and opens the Live session itself with `@google/genai` — microphone as 16 kHz
 * PCM, the model's 24 kHz voice played back, transcripts of both sides. No LiveKit room is involved.
 */
export class DirectCall extends Emitter<CallEvents> implements Call {
  readonly mode = 'direct';
  readonly transcript = new Transcript();
  #o: DirectCallOptions;
  #session: Session | null = null;
  #mic: MicCapture | null = null;
  #player: PcmPlayer;
  #me: Speaker = { identity: 'me', name: 'You', role: 'self' };
  #turn = 0;
  #turnDone = false;
  #leaving = false;
  #micOn = false;
  #chatCount = 0;
  #connect: ((handle: string | undefined) => Promise<Session>) | null = null;
  #connection = 0;
  /** Resolves once the current connection's socket has closed (see {@link DirectCall.#doResume}). */
  #closed: Promise<void> = Promise.resolve();
  #handle: string | undefined;
  /** The resumption in progress; messages typed meanwhile wait for it. */
  #resuming: Promise<boolean> | null = null;
  #video: VideoSampler | null = null;
  #videoSource: 'camera' | 'screen' = 'camera';

  constructor(o: DirectCallOptions) {
    super();
    this.#o = o;
    this.#player = new PcmPlayer(o.audioContext);
    this.#player.on('playing', () => this.emit('agentState', 'speaking'));
    this.#player.on('idle', () => {
      if (this.#session) this.emit('agentState', this.#turnDone ? 'listening' : 'thinking');
    });
  }

  async start(join: JoinOptions): Promise<void> {
    this.#me = { identity: 'me', name: join.name || 'You', role: 'self' };
    this.emit('status', 'connecting');
    const token = await this.#fetchToken();
    if (this.#leaving) return;

    // The SDK is only needed in this mode: load it on demand so the LiveKit mode stays small.
    const { GoogleGenAI } = await import('@google/genai');
    // The token only works on the service that minted it; the page's own setting is the fallback.
    const baseUrl = token.baseUrl ?? this.#o.config.geminiBaseUrl;
    const ai = new GoogleGenAI({
      apiKey: token.token,
      httpOptions: { apiVersion: token.apiVersion, ...(baseUrl ? { baseUrl } : {}) },
    });
    const model = token.model ?? this.#o.config.geminiModel;
    this.#connect = (handle) => this.#open(ai, model, handle);
    try {
      this.#session = await this.#connect(undefined);
    } catch (err) {
      const message = `Could not open the Gemini Live session (${errText(err)}).`;
      throw new CallError('connect-failed', message, true, { cause: err });
    }
    if (this.#leaving) {
      this.#session.close();
      return;
    }
    this.emit('status', 'connected');
    this.emit('agentState', 'listening');
    this.emit('agentAudio', this.#o.audioContext, this.#player.output);
    await this.setMicrophone(true);
  }

  /** Opens one Live connection; `handle` continues an earlier one (session resumption). */
  async #open(ai: GoogleGenAI, model: string, handle: string | undefined): Promise<Session> {
    const connection = ++this.#connection;
    let closed!: () => void;
    const whenClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const session = await ai.live.connect({
      model,
      config: {
        // The SDK's enum value, spelled out so this module does not load the SDK eagerly.
        responseModalities: ['AUDIO' as Modality],
        inputAudioTranscription: {},
        outputAudioTranscription: {},
        tools: [{ functionDeclarations: [setLightDeclaration] }],
        // Resumption handles let the conversation survive goAway and dropped connections.
        sessionResumption: handle ? { handle } : {},
      },
      callbacks: {
        onmessage: (msg) => {
          if (connection === this.#connection) this.#onMessage(msg);
        },
        onclose: (ev) => {
          closed();
          if (connection === this.#connection) this.#onClose(ev);
        },
      },
    });
    this.#closed = whenClosed;
    return session;
  }

  /**
   * Moves the conversation to a new connection with the latest resumption handle (same token: resuming
   * does not use it up). Returns false when there is nothing to resume or it failed.
   */
  #resume(): Promise<boolean> {
    this.#resuming ??= this.#doResume().finally(() => {
      this.#resuming = null;
    });
    return this.#resuming;
  }

  async #doResume(): Promise<boolean> {
    const handle = this.#handle;
    if (!handle || !this.#connect || this.#leaving) return false;
    // A turn cut off with the old connection ends here; the resumed session starts a new one.
    this.transcript.finalize(`user:${this.#turn}`);
    this.transcript.finalize(`model:${this.#turn}`);
    this.#turn++;
    this.#turnDone = true;
    // The old connection is closed first: the service refuses (1011) a resume while another connection
    // of the session is open. Its callbacks stop counting: a close of our own is not a drop.
    this.#connection++;
    this.#session?.close();
    // Resumed once the service has seen the close (bounded: a close that never completes only delays it).
    await Promise.race([this.#closed, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))]);
    try {
      const next = await this.#connect(handle);
      if (this.#leaving) {
        next.close();
        return true;
      }
      this.#session = next;
      return true;
    } catch (err) {
      console.warn('Gemini session resumption failed', err);
      return false;
    }
  }

  async #fetchToken(): Promise<EphemeralToken> {
    const url = `${this.#o.config.tokenServerUrl}/gemini/token`;
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    } catch (err) {
      throw tokenError(undefined, errText(err), err);
    }
    const body = await res.text();
    if (res.status === 501) {
      // The token server runs Gemini on Vertex AI: no ephemeral tokens, so no direct mode at all.
      const reason = unavailableReason(body);
      if (reason) throw new CallError('direct-unavailable', `Direct mode is unavailable: ${reason}`, true);
    }
    if (!res.ok) throw tokenError(res.status, summarise(body));
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
    } catch (err) {
      throw tokenError(res.status, 'the answer is not JSON', err);
    }
    const token = str(parsed.token);
    if (!token) throw tokenError(res.status, 'the answer has no token');
    return {
      token,
      model: str(parsed.model),
      apiVersion: str(parsed.api_version) ?? 'v1alpha',
      baseUrl: str(parsed.base_url),
    };
  }

  async setMicrophone(on: boolean): Promise<void> {
    if (!this.#session) return;
    if (on && !this.#mic) {
      try {
        const mic = await MicCapture.start({ context: this.#o.audioContext, targetRate: 16_000 });
        if (this.#leaving) {
          mic.stop();
          return;
        }
        mic.on('chunk', (pcm) => {
          if (!this.#micOn) return;
          this.#session?.sendRealtimeInput({
            audio: { data: int16ToBase64(pcm), mimeType: `audio/pcm;rate=${mic.targetRate}` },
          });
        });
        this.#mic = mic;
      } catch (err) {
        this.emit('error', mediaError(err, 'mic'));
      }
    }
    this.#micOn = on && this.#mic !== null;
    if (this.#mic) this.#mic.muted = !this.#micOn;
    // Tell the server the stream paused so its voice activity detection does not wait for more.
    if (!this.#micOn && this.#mic) this.#session.sendRealtimeInput({ audioStreamEnd: true });
    this.#emitMedia();
  }

  /** Camera frames go to the model as still JPEGs (~1 fps); one video source at a time. */
  async setCamera(on: boolean): Promise<void> {
    await this.#setVideo(on ? 'camera' : null);
  }

  async setScreenShare(on: boolean): Promise<void> {
    await this.#setVideo(on ? 'screen' : null);
  }

  async #setVideo(source: 'camera' | 'screen' | null): Promise<void> {
    if (!this.#session) return;
    this.#video?.stop();
    if (source) {
      try {
        const sampler = await VideoSampler.start({
          source,
          onFrame: (data) => this.#session?.sendRealtimeInput({ video: { data, mimeType: 'image/jpeg' } }),
        });
        if (this.#leaving) {
          sampler.stop();
          return;
        }
        this.#video = sampler;
        this.#videoSource = source;
        sampler.onEnded = () => {
          if (this.#video === sampler) this.#video = null;
          this.emit('video', 'local:direct', '', null);
          this.#emitMedia();
        };
        this.emit('video', 'local:direct', source === 'camera' ? 'You' : 'Your screen', sampler.element);
      } catch (err) {
        // Cancelling the browser's screen picker is a choice, not an error.
        if (!(source === 'screen' && err instanceof Error && err.name === 'NotAllowedError')) {
          this.emit('error', mediaError(err, 'camera'));
        }
      }
    }
    this.#emitMedia();
  }

  async sendChat(text: string): Promise<void> {
    if (!this.#session || !text.trim()) return;
    this.transcript.set(`chat:${++this.#chatCount}`, this.#me, text, true, 'chat');
    if (this.#resuming) await this.#resuming;
    this.#session?.sendClientContent({ turns: [{ role: 'user', parts: [{ text }] }], turnComplete: true });
  }

  async leave(): Promise<void> {
    if (this.#leaving) return;
    this.#leaving = true;
    const session = this.#session;
    this.#session = null;
    this.#mic?.stop();
    this.#mic = null;
    this.#video?.stop();
    this.#micOn = false;
    this.#player.close();
    session?.close();
    this.emit('agentAudio', null);
    this.emit('status', 'ended');
  }

  #onMessage(msg: LiveServerMessage): void {
    if (msg.sessionResumptionUpdate?.resumable && msg.sessionResumptionUpdate.newHandle) {
      this.#handle = msg.sessionResumptionUpdate.newHandle;
    }
    if (msg.goAway && this.#handle) {
      // The server will close this connection soon: continue on a new one now. (Without a handle
      // there is nothing to continue: the close that follows ends the call.)
      void this.#resume().then((resumed) => {
        if (!resumed && !this.#leaving) this.#disconnected('the session could not be resumed after goAway');
      });
    }
    const content = msg.serverContent;
    if (content) {
      const userKey = `user:${this.#turn}`;
      const modelKey = `model:${this.#turn}`;
      if (content.inputTranscription?.text) {
        this.#turnDone = false;
        this.transcript.append(userKey, this.#me, content.inputTranscription.text);
      }
      for (const part of content.modelTurn?.parts ?? []) {
        const data = part.inlineData;
        if (data?.data && data.mimeType?.startsWith('audio/')) {
          this.#turnDone = false;
          this.transcript.finalize(userKey);
          this.#player.enqueue(base64ToInt16(data.data), rateOf(data.mimeType, 24_000));
        }
      }
      if (content.outputTranscription?.text) {
        this.transcript.finalize(userKey);
        this.transcript.append(modelKey, MODEL_VOICE, content.outputTranscription.text);
      }
      if (content.interrupted) {
        // Barge-in: the user spoke over the model; drop what it had queued.
        this.#player.interrupt();
      }
      if (content.turnComplete || content.interrupted) {
        this.transcript.finalize(userKey);
        this.transcript.finalize(modelKey);
        this.#turn++;
        this.#turnDone = true;
        if (!this.#player.playing) this.emit('agentState', 'listening');
      }
    }
    if (msg.toolCall?.functionCalls?.length) {
      this.emit('agentState', 'thinking');
      const functionResponses = msg.toolCall.functionCalls.map((call) => {
        if (call.name !== SET_LIGHT) {
          return { id: call.id, name: call.name, response: { error: `unknown function ${call.name}` } };
        }
        try {
          const state = parseLight(call.args ?? {});
          this.emit('light', state);
          return { id: call.id, name: call.name, response: { ok: true } };
        } catch (err) {
          return { id: call.id, name: call.name, response: { error: errText(err) } };
        }
      });
      this.#session?.sendToolResponse({ functionResponses });
    }
  }

  #onClose(ev: CloseEvent): void {
    if (this.#leaving) return;
    // An abnormal close (network, server restart) resumes once; errors about the request do not.
    const transient = ev.code === 1006 || ev.code === 1001 || ev.code === 1011;
    void (transient ? this.#resume() : Promise.resolve(false)).then((resumed) => {
      if (resumed || this.#leaving) return;
      this.#disconnected(`code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}`);
    });
  }

  /** The conversation cannot go on: says why and leaves. */
  #disconnected(why: string): void {
    this.emit('error', new CallError('disconnected', `The Gemini session closed (${why}).`, true));
    void this.leave();
  }

  #emitMedia(): void {
    const video = this.#video ? this.#videoSource : null;
    this.emit('media', { mic: this.#micOn, camera: video === 'camera', screen: video === 'screen' });
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The reason of a 501 `ephemeral_tokens_unavailable`, or undefined for any other answer. */
function unavailableReason(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (parsed.error !== 'ephemeral_tokens_unavailable') return undefined;
    return typeof parsed.message === 'string' && parsed.message
      ? parsed.message.slice(0, 300)
      : 'the server has no ephemeral tokens.';
  } catch {
    return undefined;
  }
}

function summarise(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    const msg = parsed.error ?? parsed.message;
    if (typeof msg === 'string') return msg.slice(0, 200);
    if (msg && typeof msg === 'object' && 'message' in msg) return String(msg.message).slice(0, 200);
  } catch {}
  return body.replace(/\s+/g, ' ').trim().slice(0, 200);
}
