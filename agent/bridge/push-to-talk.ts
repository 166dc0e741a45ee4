import { type LocalParticipant, RpcError, type RpcInvocationData } from '@livekit/rtc-node';

/** RPC methods a client calls for push-to-talk (payload ignored; reply `{"ok":true}`). */
export const RPC_PTT_START = 'ptt.start';
export const RPC_PTT_END = 'ptt.end';

/**
 * Push-to-talk as a gate in front of the input policy: a participant's audio passes only between their
 * `ptt.start` and `ptt.end`. Holders are kept in the order they pressed.
 */
export class PushToTalkGate {
  readonly #holding = new Set<string>();

  /** Whether `identity`'s audio may pass. */
  open(identity: string): boolean {
    return this.#holding.has(identity);
  }

  /** Starts `identity`'s hold; false when it was held already. */
  press(identity: string): boolean {
    if (this.#holding.has(identity)) return false;
    this.#holding.add(identity);
    return true;
  }

  /** Ends `identity`'s hold; false when it was not held. */
  release(identity: string): boolean {
    return this.#holding.delete(identity);
  }

  /** How many hold now. */
  get holders(): number {
    return this.#holding.size;
  }

  /** Who is holding, in the order they pressed. */
  get holding(): string[] {
    return [...this.#holding];
  }

  /** Who pressed most recently among those holding. */
  get latest(): string | undefined {
    return [...this.#holding].at(-1);
  }
}

/**
 * Serves `ptt.start`/`ptt.end` on the agent: `press` answers for the caller, and throws an RPC error
 * the caller sees (e.g. push-to-talk is off, unknown participant). Returns the unregistration.
 */
export function servePushToTalk(
  lp: LocalParticipant,
  press: (identity: string, start: boolean) => void,
): () => void {
  const handler = (start: boolean) => async (d: RpcInvocationData) => {
    press(d.callerIdentity, start);
    return JSON.stringify({ ok: true });
  };
  lp.registerRpcMethod(RPC_PTT_START, handler(true));
  lp.registerRpcMethod(RPC_PTT_END, handler(false));
  return () => {
    lp.unregisterRpcMethod(RPC_PTT_START);
    lp.unregisterRpcMethod(RPC_PTT_END);
  };
}

/** An RPC error for the caller of `ptt.start`/`ptt.end`. */
export function pushToTalkError(message: string): RpcError {
  return new RpcError(RpcError.ErrorCode.APPLICATION_ERROR, message);
}
