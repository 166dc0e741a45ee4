import { EventEmitter } from 'node:events';
import type { FunctionCall, FunctionResponse, FunctionResponseScheduling } from '@google/genai';
import {
  DEFAULT_LIVE_MODEL,
  effectiveBehavior,
  type LiveModelSpec,
  liveModel,
} from '../../shared/gemini-models/index.ts';
import type { ToolRegistry } from './registry.ts';
import type { ToolBehavior, ToolContext } from './tool.ts';

/** Options of a {@link ToolRunner}. */
export interface ToolRunnerOptions {
  registry: ToolRegistry;
  /** Delivers responses to the Live session. */
  respond: (responses: FunctionResponse[]) => void;
  /** Per-call context besides id and signal. */
  context: () => Omit<ToolContext, 'callId' | 'signal'>;
  /** Time-out for tools without their own, ms (default 20 000). */
  defaultTimeoutMs?: number;
  /**
   * The session's model (`liveModel()`): whether a call blocks and how a non-blocking result is
   * scheduled follow it (default: the catalogue's default model).
   */
  model?: LiveModelSpec;
}

/** Events of a {@link ToolRunner}. */
export type ToolRunnerEvents = {
  started: [call: { id: string; name: string; args: Record<string, unknown> }];
  finished: [call: { id: string; name: string; ok: boolean; error?: string; cancelled?: boolean }];
};

class ToolTimeoutError extends Error {}

/**
 * Runs the model's function calls: every call of a `toolCall` message in parallel, arguments validated
 * against the tool's schema, failures and time-outs returned to the model as `{error}`, cancellations
 * (`toolCallCancellation`) delivered as an aborted `AbortSignal` with no response sent. Blocking results
 * of one message go back together; non-blocking ones as each finishes, with their scheduling. Whether a
 * call blocks is what its tool gets on the model (`effectiveBehavior`), as its declaration says.
 */
export class ToolRunner extends EventEmitter<ToolRunnerEvents> {
  readonly #o: Required<Omit<ToolRunnerOptions, 'model'>>;
  readonly #model: LiveModelSpec;
  readonly #running = new Map<string, AbortController>();
  #closed = false;

  constructor(options: ToolRunnerOptions) {
    super();
    this.#o = { defaultTimeoutMs: 20_000, ...options };
    this.#model = options.model ?? liveModel(DEFAULT_LIVE_MODEL);
  }

  /** How a call runs on the model: an unknown function's error goes back like a blocking result. */
  behavior(call: FunctionCall): ToolBehavior {
    const tool = call.name ? this.#o.registry.get(call.name) : undefined;
    return tool ? effectiveBehavior(this.#model, tool.behavior) : 'BLOCKING';
  }

  /** Whether the model waits for any of these calls (then the agent is thinking, not listening). */
  blocks(calls: readonly FunctionCall[]): boolean {
    return calls.some((c) => this.behavior(c) === 'BLOCKING');
  }

  /**
   * Replaces the tools calls are looked up in (tools of an MCP server that came up later); calls
   * already running finish with the tool they started with.
   */
  set registry(registry: ToolRegistry) {
    this.#o.registry = registry;
  }

  /** Calls in flight. */
  get pending(): number {
    return this.#running.size;
  }

  handle(calls: FunctionCall[]): Promise<void> {
    const blocking: Promise<FunctionResponse | undefined>[] = [];
    const all: Promise<unknown>[] = [];
    for (const call of calls) {
      const p = this.#run(call);
      if (this.behavior(call) === 'NON_BLOCKING') {
        all.push(
          p.then((r) => {
            if (r && !this.#closed) this.#o.respond([r]);
          }),
        );
      } else {
        blocking.push(p);
      }
    }
    if (blocking.length) {
      all.push(
        Promise.all(blocking).then((rs) => {
          const responses = rs.filter((r): r is FunctionResponse => r !== undefined);
          if (responses.length && !this.#closed) this.#o.respond(responses);
        }),
      );
    }
    return Promise.all(all).then(() => {});
  }

  /** Aborts the calls the model no longer wants; their results are discarded. */
  cancel(ids: string[]): void {
    for (const id of ids) this.#running.get(id)?.abort(new Error('cancelled by the model'));
  }

  /** Aborts everything in flight; no further responses are sent. */
  aclose(): void {
    this.#closed = true;
    for (const c of this.#running.values()) c.abort(new Error('session closed'));
    this.#running.clear();
  }

  async #run(call: FunctionCall): Promise<FunctionResponse | undefined> {
    const id = call.id ?? '';
    const name = call.name ?? '';
    const base: FunctionResponse = { id, name };
    const tool = this.#o.registry.get(name);
    if (!tool) {
      this.emit('finished', { id, name, ok: false, error: 'unknown tool' });
      return { ...base, response: { error: `unknown function ${name}` } };
    }
    // Named on every non-blocking response, so the model's default is stated rather than assumed.
    const scheduling =
      this.behavior(call) === 'NON_BLOCKING'
        ? {
            scheduling: (tool.scheduling ??
              this.#model.functions.defaultScheduling) as FunctionResponseScheduling,
          }
        : {};
    const parsed = tool.parameters.safeParse(call.args ?? {});
    if (!parsed.success) {
      const error = `invalid arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
      this.emit('finished', { id, name, ok: false, error });
      return { ...base, ...scheduling, response: { error } };
    }
    const controller = new AbortController();
    this.#running.set(id, controller);
    this.emit('started', { id, name, args: (call.args ?? {}) as Record<string, unknown> });
    const timeoutMs = tool.timeoutMs ?? this.#o.defaultTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new ToolTimeoutError(`timed out after ${timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    const cancelled = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    try {
      const ctx: ToolContext = { ...this.#o.context(), callId: id, signal: controller.signal };
      const output = await Promise.race([tool.execute(parsed.data, ctx), timeout, cancelled]);
      this.emit('finished', { id, name, ok: true });
      return { ...base, ...scheduling, response: { output: output ?? null } };
    } catch (err) {
      if (controller.signal.aborted && !(controller.signal.reason instanceof ToolTimeoutError)) {
        this.emit('finished', { id, name, ok: false, cancelled: true });
        return undefined;
      }
      const error = err instanceof Error ? err.message : String(err);
      this.emit('finished', { id, name, ok: false, error });
      return { ...base, ...scheduling, response: { error } };
    } finally {
      clearTimeout(timer);
      this.#running.delete(id);
    }
  }
}
