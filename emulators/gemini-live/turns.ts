/**
 * The turn engine: user input becomes model turns (planned by the responder, scenario or the model's
 * default), one at a time with a bounded queue behind; a turn runs its steps, ends with
 * `generationComplete`/`turnComplete` + usage, or is interrupted (barge-in, INTERRUPT results).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { resamplePcm16 } from '../../shared/audio/resample.ts';
import {
  compress,
  contextDetails,
  contextTokens,
  type Entry,
  rememberedBefore,
  textTokens,
} from './conversation.ts';
import { planTurn, type UserTurn } from './model.ts';
import { speak } from './output.ts';
import { type UsageMetadata, vertexUsage } from './protocol.ts';
import { renderTemplate, type Step } from './scenario.ts';
import type { ActiveTurn, SessionCore, TemplateVars, TurnRequest } from './session-core.ts';
import { now, type TurnRecord } from './stats.ts';
import { ToolCalls, type TurnControl } from './tool-calls.ts';

const MAX_QUEUED_TURNS = 32;

export class TurnEngine implements TurnControl {
  readonly tools: ToolCalls;
  #core: SessionCore;
  #turn: ActiveTurn | undefined;
  #queue: TurnRequest[] = [];

  constructor(core: SessionCore) {
    this.#core = core;
    this.tools = new ToolCalls(core, this);
  }

  /** No turn is running (the model is not producing one nor waiting on its blocking calls). */
  get idle(): boolean {
    return this.#turn === undefined;
  }

  /** User input ended (speech, activityEnd, text, clientContent): record it and answer. */
  userInput(request: TurnRequest, record = true): void {
    if (request.trigger === 'speech') this.#core.stats.speechEnds.push(request.inputEndAt);
    if (record && request.text !== undefined) {
      this.addHistory({
        role: 'user',
        modality: 'TEXT',
        tokens: textTokens(request.text),
        text: request.text,
      });
    }
    this.request(request);
  }

  addHistory(entry: Entry): void {
    const { conv, cfg, stats } = this.#core;
    conv.history.push(entry);
    const c = cfg.compression;
    if (c && compress(conv, c.trigger, c.target)) stats.compressions++;
  }

  /** Starts a turn now, or queues it behind the running one. */
  request(request: TurnRequest): void {
    if (!this.#turn) {
      this.#startTurn(request);
      return;
    }
    this.#queue.push(request);
    // A client that keeps talking over a NO_INTERRUPTION model cannot grow the backlog without bound.
    if (this.#queue.length > MAX_QUEUED_TURNS) this.#queue.shift();
  }

  /**
   * Stops the running turn: `interrupted`, cancellation of its unanswered tool calls, `turnComplete`.
   * `cancelCalls` is false when the model interrupts itself for a NON_BLOCKING result.
   */
  interrupt(cancelCalls = true): void {
    const turn = this.#turn;
    if (!turn) return;
    const { stats } = this.#core;
    turn.ctl.abort();
    stats.interruptions++;
    this.#core.send({ serverContent: { interrupted: true } });
    if (cancelCalls) {
      const ids = this.tools.cancel(turn);
      if (ids.length) {
        stats.toolCallCancellations += ids.length;
        this.#core.send({ toolCallCancellation: { ids } });
      }
    }
    this.#endTurn(turn, true);
  }

  /** `sessionResumptionUpdate`: a new handle when idle, `resumable: false` mid-turn. */
  resumptionUpdate(): void {
    const core = this.#core;
    if (!core.cfg.resumption || !core.active) return;
    const resumable = this.#turn === undefined;
    const newHandle = resumable ? core.ctx.handles.issue(core.conv, core.tokenName) : undefined;
    core.send({ sessionResumptionUpdate: newHandle ? { newHandle, resumable } : { resumable } });
  }

  /** The connection closed: drop everything in flight. */
  clear(): void {
    this.#turn?.ctl.abort();
    this.#turn = undefined;
    this.#queue = [];
    this.tools.clear();
  }

  #drain(): void {
    const next = this.#queue.shift();
    if (next && !this.#turn && this.#core.active) this.#startTurn(next);
  }

  #startTurn(request: TurnRequest): void {
    const core = this.#core;
    const { stats, conv, cfg, ctx } = core;
    const record: TurnRecord = {
      index: stats.turns++,
      trigger: request.trigger,
      inputEndAt: request.inputEndAt,
      interrupted: false,
    };
    stats.turnLog.push(record);
    let steps = request.steps;
    let text = request.text ?? '';
    let userTurn = conv.userTurns;
    if (!steps) {
      userTurn = ++conv.userTurns;
      const before = rememberedBefore(conv.history, request.text);
      try {
        const plan = planTurn(
          {
            trigger: request.trigger as UserTurn['trigger'],
            turn: userTurn,
            sessionId: conv.sessionId,
            text: request.text,
            audioMs: request.audio?.durationMs,
            ...(before !== undefined && { before }),
          },
          ctx.scenario(),
          ctx.options.respond,
          cfg.profile,
        );
        text = plan.transcript;
        steps = plan.steps;
      } catch (err) {
        core.log(`responder failed: ${(err as Error).message}`);
        core.close(1011, 'Internal error encountered.');
        return;
      }
      if (request.audio) {
        this.addHistory({
          role: 'user',
          modality: 'AUDIO',
          tokens: Math.ceil((request.audio.durationMs / 1000) * cfg.profile.spec.tokens.audioPerSecond),
          text,
        });
      }
    }
    const turn: ActiveTurn = {
      ctl: new AbortController(),
      record,
      generated: false,
      promptTokens: contextTokens(conv),
      promptDetails: contextDetails(conv),
      responseTokens: 0,
      responseModality: cfg.textOutput ? 'TEXT' : 'AUDIO',
      spoken: [],
      playbackEnd: 0,
      callIds: new Set(),
    };
    this.#turn = turn;
    core.turnStarted(record);
    if (request.audio && cfg.inputTranscription)
      core.send({ serverContent: { inputTranscription: { text } } });
    const vars: TemplateVars = { text, turn: userTurn, result: null, results: {} };
    this.#runTurn(turn, steps, vars, request).catch((err: unknown) => {
      if (turn.ctl.signal.aborted || !core.active) return;
      core.log(`turn failed: ${(err as Error).stack}`);
      core.close(1011, 'Internal error encountered.');
    });
  }

  async #runTurn(turn: ActiveTurn, steps: Step[], vars: TemplateVars, request: TurnRequest): Promise<void> {
    const core = this.#core;
    const { options } = core.ctx;
    const signal = AbortSignal.any([turn.ctl.signal, core.life]);
    if (options.responseDelayMs > 0) await sleep(options.responseDelayMs, undefined, { signal });
    for (const step of steps) {
      signal.throwIfAborted();
      if ('say' in step) {
        await speak(core, turn, renderTemplate(step.say, vars), undefined, signal);
      } else if ('echo' in step) {
        const audio = request.audio;
        const rate = core.cfg.profile.outputRate;
        const echo = audio ? resamplePcm16(audio.samples, audio.rate, rate) : undefined;
        await speak(core, turn, vars.text, echo, signal);
      } else if ('toolCall' in step) {
        await this.tools.call(turn, step, vars, signal);
      } else if ('goAway' in step) {
        core.goAway(step.goAway.timeLeftMs);
      } else if ('waitMs' in step) {
        await sleep(step.waitMs, undefined, { signal });
      } else if ('close' in step) {
        core.close(step.close.code, step.close.reason);
        return;
      }
    }
    signal.throwIfAborted();
    if (turn.generated) core.send({ serverContent: { generationComplete: true } });
    if (options.turnCompleteAfterPlayback) {
      // Like the service: generation may run ahead of real time, but the turn (and with it the chance
      // to barge in) lasts until the client has played the audio out.
      const left = turn.playbackEnd - now();
      if (left > 0) await sleep(left, undefined, { signal });
    }
    this.#endTurn(turn, false);
  }

  #endTurn(turn: ActiveTurn, interrupted: boolean): void {
    if (this.#turn !== turn) return;
    this.#turn = undefined;
    turn.record.interrupted = interrupted;
    turn.record.completedAt = now();
    if (turn.responseTokens > 0) {
      this.addHistory({
        role: 'model',
        modality: turn.responseModality,
        tokens: turn.responseTokens,
        text: turn.spoken.join(' '),
      });
    }
    const usage: UsageMetadata = {
      promptTokenCount: turn.promptTokens,
      responseTokenCount: turn.responseTokens,
      totalTokenCount: turn.promptTokens + turn.responseTokens,
      promptTokensDetails: turn.promptDetails,
      responseTokensDetails: turn.responseTokens
        ? [{ modality: turn.responseModality, tokenCount: turn.responseTokens }]
        : [],
    };
    this.#core.send({
      serverContent: { turnComplete: true },
      usageMetadata: this.#core.ctx.route.backend === 'vertex' ? vertexUsage(usage) : usage,
    });
    this.#core.turnEnded(turn.record);
    this.resumptionUpdate();
    queueMicrotask(() => this.#drain());
  }
}
