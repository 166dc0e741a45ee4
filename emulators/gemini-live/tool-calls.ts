/**
 * Function calling: the model's `toolCall`s (BLOCKING ones pause the turn until answered or timed out),
 * the client's `toolResponse`s (NON_BLOCKING results are reported per their `scheduling`), and
 * cancellation of a barged-in turn's unanswered calls.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Entry, textTokens } from './conversation.ts';
import type { FunctionResponse } from './protocol.ts';
import { renderTemplate, type Step } from './scenario.ts';
import type { ActiveTurn, SessionCore, TemplateVars, TurnRequest } from './session-core.ts';
import { now } from './stats.ts';

/** What tool calls need from the turn engine. */
export interface TurnControl {
  request(request: TurnRequest): void;
  interrupt(cancelCalls: boolean): void;
  addHistory(entry: Entry): void;
  readonly idle: boolean;
  resumptionUpdate(): void;
}

interface PendingCall {
  id: string;
  name: string;
  behavior: 'BLOCKING' | 'NON_BLOCKING';
  turn: ActiveTurn;
  onResult: string | undefined;
  resolve?: (response: unknown) => void;
  vars: TemplateVars;
}

export class ToolCalls {
  #core: SessionCore;
  #turns: TurnControl;
  #calls = new Map<string, PendingCall>();

  constructor(core: SessionCore, turns: TurnControl) {
    this.#core = core;
    this.#turns = turns;
  }

  /** Sends one `toolCall`; resolves once its blocking calls are answered (or time out). */
  async call(
    turn: ActiveTurn,
    step: Extract<Step, { toolCall: unknown }>,
    vars: TemplateVars,
    signal: AbortSignal,
  ): Promise<void> {
    const { cfg, conv, stats } = this.#core;
    const specs = Array.isArray(step.toolCall) ? step.toolCall : [step.toolCall];
    const waits: Promise<void>[] = [];
    const blocking: string[] = [];
    const functionCalls = specs.map((spec) => {
      const id = spec.id ?? `call-${++conv.callCounter}`;
      const behavior = cfg.tools.get(spec.name) ?? 'BLOCKING';
      const call: PendingCall = { id, name: spec.name, behavior, turn, onResult: spec.onResult, vars };
      if (behavior === 'BLOCKING') {
        blocking.push(id);
        waits.push(
          new Promise<void>((resolve) => {
            call.resolve = (response) => {
              vars.result = response;
              vars.results[spec.name] = response;
              resolve();
            };
          }),
        );
      }
      this.#calls.set(id, call);
      turn.callIds.add(id);
      return { id, name: spec.name, args: spec.args };
    });
    stats.toolCalls += functionCalls.length;
    turn.responseTokens += textTokens(JSON.stringify(functionCalls));
    turn.generated = true;
    this.#core.send({ toolCall: { functionCalls } });
    if (waits.length === 0) return;
    const all = Promise.all(waits).then(() => 'done' as const);
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const contenders: Promise<'done' | 'timeout'>[] = [all, aborted];
    const timeoutCtl = new AbortController();
    if (step.timeoutMs !== undefined) {
      contenders.push(
        sleep(step.timeoutMs, 'timeout' as const, { signal: AbortSignal.any([signal, timeoutCtl.signal]) }),
      );
    }
    try {
      const outcome = await Promise.race(contenders);
      if (outcome === 'timeout') {
        // The model gives up on the missing responses; arriving later they are "late".
        for (const id of blocking) {
          if (this.#calls.delete(id)) stats.toolTimeouts++;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      timeoutCtl.abort();
    }
  }

  /** The client's `toolResponse`. */
  respond(responses: FunctionResponse[]): void {
    const { stats } = this.#core;
    for (const [i, r] of responses.entries()) {
      if (!r.id) {
        this.#core.close(1007, `functionResponses[${i}].id is required.`);
        return;
      }
    }
    for (const r of responses) {
      stats.toolResponses++;
      const call = this.#calls.get(r.id!);
      if (!call) {
        stats.lateToolResponses++;
        continue;
      }
      // A NON_BLOCKING call answered with willContinue stays open for its further responses.
      if (call.behavior === 'BLOCKING' || !r.willContinue) this.#calls.delete(call.id);
      const json = JSON.stringify(r.response ?? {});
      this.#turns.addHistory({ role: 'tool', modality: 'TEXT', tokens: textTokens(json), text: json });
      if (call.behavior === 'BLOCKING') {
        call.resolve?.(r.response ?? {});
        continue;
      }
      const scheduling = r.scheduling ?? 'WHEN_IDLE';
      if (scheduling === 'SILENT') continue;
      const template = call.onResult ?? `The ${call.name} tool returned {{result}}.`;
      const say = renderTemplate(template, {
        ...call.vars,
        result: r.response ?? {},
        results: { ...call.vars.results, [call.name]: r.response ?? {} },
      });
      const request: TurnRequest = { trigger: 'toolResponse', inputEndAt: now(), steps: [{ say }] };
      // INTERRUPT cuts the running answer short; WHEN_IDLE (also the default) queues behind it.
      if (scheduling === 'INTERRUPT') this.#turns.interrupt(false);
      this.#turns.request(request);
    }
    if (this.#turns.idle) this.#turns.resumptionUpdate();
  }

  /** Forgets the turn's unanswered calls; returns their ids for `toolCallCancellation`. */
  cancel(turn: ActiveTurn): string[] {
    return [...turn.callIds].filter((id) => this.#calls.delete(id));
  }

  clear(): void {
    this.#calls.clear();
  }
}
