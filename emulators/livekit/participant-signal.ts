import {
  type DisconnectReason,
  LeaveRequest,
  LeaveRequest_Action,
  type SignalResponse,
} from '@livekit/protocol';

/** Where a participant's server → client signal messages go (the live signal socket, if any). */
export type SignalMessage = SignalResponse['message'];

/** A server `leave`: the client may come back (resume or rejoin) unless the action is DISCONNECT. */
export function leaveMessage(action: LeaveRequest_Action, reason: DisconnectReason): SignalMessage {
  return {
    case: 'leave',
    value: new LeaveRequest({ canReconnect: action !== LeaveRequest_Action.DISCONNECT, action, reason }),
  };
}
export interface SignalSink {
  /** False when the socket could not take it (closing/closed): the message is kept for a resume. */
  send(message: SignalMessage): boolean;
  /** Closes the socket (after a server-initiated leave). */
  close(): void;
}

/** Signal messages kept for a participant whose socket is down (beyond: the resume is refused). */
const MAX_MISSED_SIGNALS = 512;
const SKIP_WHILE_DISCONNECTED = new Set([
  'offer',
  'answer',
  'trickle',
  'pong',
  'pongResp',
  'speakersChanged',
  'join',
  'reconnect',
]);

/**
 * A participant's end of the signal connection: the socket it is attached to (none while it is down)
 * and what a resuming client must not miss meanwhile.
 */
export class SignalLink {
  private sink: SignalSink | undefined;
  private readonly missed: SignalMessage[] = [];
  private missedOverflow = false;

  get connected(): boolean {
    return this.sink !== undefined;
  }

  attach(sink: SignalSink): void {
    this.sink = sink;
  }

  detach(sink: SignalSink): void {
    if (this.sink === sink) this.sink = undefined;
  }

  /** Sends on the socket, or keeps the message for a resume; a throwing socket's error is the caller's. */
  send(message: SignalMessage): void {
    if (!this.sink) {
      this.queueWhileDisconnected(message);
      return;
    }
    if (!this.sink.send(message)) this.queueWhileDisconnected(message);
  }

  /**
   * Keeps what a resuming client must not miss (participant updates, unpublishes, leaves, refreshed
   * tokens…) while its signal socket is down. Negotiation and liveness messages are not kept: a resume
   * renegotiates. Past the bound the overflow is remembered and the resume refused.
   */
  private queueWhileDisconnected(message: SignalMessage): void {
    if (message.case && SKIP_WHILE_DISCONNECTED.has(message.case)) return;
    if (this.missed.length >= MAX_MISSED_SIGNALS) {
      this.missedOverflow = true;
      return;
    }
    this.missed.push(message);
  }

  /** Signals queued during a socket drop, for a resume; undefined if some were lost. */
  takeMissed(): SignalMessage[] | undefined {
    const missed = this.missed.splice(0);
    if (this.missedOverflow) {
      this.missedOverflow = false;
      return undefined;
    }
    return missed;
  }

  /** Closes the socket, which stays attached until the session detaches it (the client may resume). */
  closeSocket(): void {
    this.sink?.close();
  }

  /** Detaches and closes the socket for good (the participant ends). */
  close(): void {
    const sink = this.sink;
    this.sink = undefined;
    try {
      sink?.close();
    } catch {}
  }
}
