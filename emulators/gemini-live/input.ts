/**
 * User input of an active session: realtime audio/video/text, manual activity signals or the energy
 * VAD, and `clientContent`. Finished input becomes a turn request to the turn engine; starting
 * activity barges in when `activityHandling` allows.
 */
import { base64ToPcm16, concatPcm16, parsePcmMimeType } from '../../shared/audio/pcm.ts';
import { textTokens } from './conversation.ts';
import { INPUT_RATE } from './profiles.ts';
import type { ClientContent, RealtimeInput, Setup } from './protocol.ts';
import type { SessionCore } from './session-core.ts';
import { now } from './stats.ts';
import type { TurnEngine } from './turns.ts';
import { EnergyVad } from './vad.ts';

export class InputHandler {
  #core: SessionCore;
  #turns: TurnEngine;
  /** Called when a video frame first arrives (the session limit changes). */
  #onFirstVideo: () => void;
  #vad: EnergyVad | undefined;
  #manual: { frames: Int16Array[]; rate: number; samples: number } | undefined;
  /** User text of `clientContent` without `turnComplete` on models that wait for the rest (3.x). */
  #waitingText: string[] = [];
  /**
   * The setup declared initial history (`historyConfig.initialHistoryInClientContent`) and it is not
   * over: `clientContent` is history until one with `turnComplete`, or realtime input, ends it.
   */
  #initialHistory: boolean;

  constructor(
    core: SessionCore,
    turns: TurnEngine,
    detection: NonNullable<Setup['realtimeInputConfig']>['automaticActivityDetection'],
    onFirstVideo: () => void,
  ) {
    this.#core = core;
    this.#turns = turns;
    this.#onFirstVideo = onFirstVideo;
    this.#initialHistory = core.cfg.initialHistory;
    if (!core.cfg.manualActivity) {
      this.#vad = new EnergyVad(
        detection ?? {},
        {
          onSpeechStart: () => this.#activityStart(),
          onSpeechEnd: (samples, rate, durationMs) =>
            turns.userInput({ trigger: 'speech', inputEndAt: now(), audio: { samples, rate, durationMs } }),
        },
        core.ctx.options.limits.maxUtteranceMs,
      );
    }
  }

  realtime(input: RealtimeInput): void {
    const core = this.#core;
    this.#initialHistory = false;
    const blobs = [...(input.mediaChunks ?? [])];
    if (input.audio) blobs.push(input.audio);
    if (input.video) blobs.push(input.video);
    for (const blob of blobs) {
      const mime = blob.mimeType.toLowerCase();
      if (mime.startsWith('audio/')) {
        const rate = parsePcmMimeType(mime, INPUT_RATE);
        if (rate === undefined) {
          core.close(1007, `Unsupported audio mime type "${blob.mimeType}"; send audio/pcm;rate=N.`);
          return;
        }
        this.#audio(base64ToPcm16(blob.data), rate);
      } else if (mime.startsWith('image/')) {
        core.stats.videoFrames++;
        this.#turns.addHistory({
          role: 'user',
          modality: 'VIDEO',
          tokens: core.cfg.videoFrameTokens,
          text: '[image]',
        });
        if (!core.conv.videoSeen) {
          core.conv.videoSeen = true;
          this.#onFirstVideo();
        }
      } else {
        core.close(1007, `Unsupported mime type "${blob.mimeType}".`);
        return;
      }
    }
    if (input.activityStart) {
      if (!core.cfg.manualActivity) {
        core.close(1007, 'activityStart requires automaticActivityDetection.disabled = true.');
        return;
      }
      this.#manual = { frames: [], rate: INPUT_RATE, samples: 0 };
      this.#activityStart();
    }
    if (input.activityEnd) {
      if (!core.cfg.manualActivity) {
        core.close(1007, 'activityEnd requires automaticActivityDetection.disabled = true.');
        return;
      }
      const m = this.#manual;
      this.#manual = undefined;
      if (m) {
        core.stats.speechEnds.push(now());
        this.#turns.userInput({
          trigger: 'activityEnd',
          inputEndAt: now(),
          audio: { samples: concatPcm16(m.frames), rate: m.rate, durationMs: (m.samples / m.rate) * 1000 },
        });
      }
    }
    if (input.audioStreamEnd) this.#vad?.flush();
    if (input.text !== undefined) {
      core.stats.textInputs++;
      if (core.cfg.interrupts) this.#turns.interrupt();
      this.#turns.userInput({ trigger: 'text', inputEndAt: now(), text: input.text });
    }
  }

  clientContent(content: ClientContent): void {
    // 2.x: "A message here will interrupt any current model generation" (LiveClientContent). 3.x: only
    // `turnComplete: true` does, and content without it waits for the rest of the turn. Either way
    // whatever activityHandling says: that setting is about voice activity.
    const waits = this.#core.cfg.profile.spec.clientContent.interrupts === 'turnComplete';
    const turns = (content.turns ?? []).map((turn) => ({
      role: turn.role === 'model' ? ('model' as const) : ('user' as const),
      text: (turn.parts ?? []).map((p) => p.text ?? '').join(''),
    }));
    if (this.#initialHistory) {
      // "This initial history will not trigger a model call" (HistoryConfig, ai.google.dev/api/live).
      this.#takeHistory(turns);
      if (content.turnComplete) this.#initialHistory = false;
      return;
    }
    const history = turns.some((t) => t.role === 'model');
    if (history && this.#core.cfg.profile.spec.clientContent.history === 'historyConfig') {
      this.#core.log('clientContent with model turns outside declared initial history: refused');
      this.#core.close(1007, 'Request contains an invalid argument.');
      return;
    }
    // Notes in brackets ("[Ana joined the room]") are context: the answer is to the last thing a user
    // said in the content, if it holds one (a resumed session told what it missed ends with a note).
    const users = turns.filter((t) => t.role === 'user' && t.text);
    const lastUser = (users.findLast((t) => !isRoomNote(t.text)) ?? users.at(-1))?.text ?? '';
    // The answer is to everything the user sent since the turn began.
    const pending = [...this.#waitingText, lastUser].filter((t) => t).join(' ');
    // With proactive audio the model need not answer what is not addressed to it. The emulator's stand-in
    // for that judgement: a turn made only of bracketed notes ("[Ana joined the room]", what clients send
    // as context) is taken in silently, and a reply under way goes on.
    const silent = content.turnComplete === true && this.#core.cfg.proactiveAudio && isRoomNote(pending);
    if (!silent && (!waits || content.turnComplete)) this.#turns.interrupt();
    // Content with model turns is history (a conversation seeded anew): none of it waits for an answer.
    // With `turnComplete` the last thing said is answered now: it is not one of the turns answered before.
    if (history) this.#takeHistory(turns, content.turnComplete === true && lastUser !== '');
    else
      for (const t of turns) this.#turns.addHistory({ ...t, modality: 'TEXT', tokens: textTokens(t.text) });
    if (!content.turnComplete) {
      if (waits && lastUser && !history) this.#waitingText.push(lastUser);
      return;
    }
    const text = [...this.#waitingText.splice(0), lastUser].filter((t) => t).join(' ');
    this.#core.stats.textInputs++;
    if (silent) {
      this.#core.stats.silentTurns++;
      // The turn completes (a client waiting for the model to be between replies goes on); during a
      // reply, that reply's own turnComplete does it.
      if (this.#turns.idle) this.#core.send({ serverContent: { turnComplete: true } });
      return;
    }
    this.#turns.userInput({ trigger: 'clientContent', inputEndAt: now(), text }, false);
  }

  /**
   * Earlier turns into the context; their user turns are turns the model remembers, counted as
   * answered — but for the last one when `answering` it (that turn counts when its answer starts).
   */
  #takeHistory(turns: { role: 'user' | 'model'; text: string }[], answering = false): void {
    for (const t of turns) this.#turns.addHistory({ ...t, modality: 'TEXT', tokens: textTokens(t.text) });
    const said = turns.filter((t) => t.role === 'user' && t.text).length;
    this.#core.conv.userTurns += answering ? Math.max(0, said - 1) : said;
  }

  #audio(samples: Int16Array, rate: number): void {
    const { stats, ctx } = this.#core;
    stats.audioInFrames++;
    stats.audioInSeconds += samples.length / rate;
    if (this.#vad) {
      this.#vad.push(samples, rate);
    } else if (this.#manual) {
      const m = this.#manual;
      if (m.samples === 0) m.rate = rate;
      if (rate === m.rate && (m.samples / rate) * 1000 < ctx.options.limits.maxUtteranceMs) {
        m.frames.push(samples);
        m.samples += samples.length;
      }
    }
    // Manual activity mode outside activityStart/End: the audio is not part of any turn.
  }

  /** Start of user activity (VAD or activityStart): barge in if allowed. */
  #activityStart(): void {
    this.#core.stats.speechStarts.push(now());
    if (this.#core.cfg.interrupts) this.#turns.interrupt();
  }
}

/** Text made only of bracketed notes, one or more per line (context about the room, not speech to the model). */
export function isRoomNote(text: string): boolean {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l);
  return lines.length > 0 && lines.every((l) => l.startsWith('[') && l.endsWith(']'));
}
