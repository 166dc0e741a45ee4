import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { open, seal } from '../checkpoint/aead.ts';
import { metadataObject } from '../checkpoint/store.ts';

/**
 * The hand-off ticket: what a draining job puts in the dispatch it creates for its successor, under
 * this key of the dispatch metadata. Clients never read dispatch metadata, but a client whose token
 * carries `roomConfig.agents` can write it (docs/research/agent-recovery.md §2), so the ticket is sealed
 * with the workers' checkpoint key (AES-256-GCM): only a worker can make one, and a job refuses a
 * hand-off whose ticket does not open. Room configuration parsing takes only its known keys, so this
 * one never reads as configuration.
 */
export const HANDOFF_METADATA_KEY = 'lk.agent.handoff';

const PREFIX = 'ho1.';
const AAD = Buffer.from('gemini-livekit handoff v1');

/** How long a ticket is good for once sealed (the old job waits far less for its successor). */
export const TICKET_TTL_MS = 10 * 60_000;

const ticketSchema = z.object({
  room: z.string(),
  agentName: z.string(),
  /** The job handing over, and its agent participant (the successor signals it, and nobody else). */
  from: z.object({ jobId: z.string(), identity: z.string() }),
  /** `seq` of the checkpoint written just before the dispatch: the successor resumes from it or a later one. */
  seq: z.number().int().nonnegative(),
  /** Random, shown only to the successor: the old job answers only a signal that carries it. */
  id: z.string().min(16),
  expiresAt: z.number(),
});

export type HandoffTicket = z.infer<typeof ticketSchema>;

/** Why a hand-off ticket was refused (safe to log: nothing of the ticket). */
export type TicketRefusal = 'tampered' | 'foreign' | 'expired' | 'invalid' | 'checkpoints off';

export class TicketError extends Error {
  override name = 'TicketError';
  readonly reason: TicketRefusal;
  constructor(reason: TicketRefusal, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A new ticket for `from`'s conversation in `room`. */
export function newTicket(o: Omit<HandoffTicket, 'id' | 'expiresAt'>, now = Date.now()): HandoffTicket {
  return { ...o, id: randomBytes(18).toString('base64url'), expiresAt: now + TICKET_TTL_MS };
}

/** The dispatch metadata carrying `ticket`, sealed with `key`. */
export function ticketMetadata(ticket: HandoffTicket, key: Buffer): string {
  return JSON.stringify({ [HANDOFF_METADATA_KEY]: PREFIX + seal(JSON.stringify(ticket), key, AAD) });
}

/**
 * The hand-off ticket in a job's dispatch metadata: undefined when there is none (an ordinary
 * dispatch); throws {@link TicketError} when there is one that must not be honoured (not sealed with
 * our key, for another room or agent name, expired, or no key: checkpoints are off).
 */
export function readTicket(
  jobMetadata: string | undefined,
  key: Buffer | undefined,
  bind: { room: string; agentName: string },
  now = Date.now(),
): HandoffTicket | undefined {
  const o = metadataObject(jobMetadata);
  if (!o || !(HANDOFF_METADATA_KEY in o)) return undefined;
  if (!key) throw new TicketError('checkpoints off', 'hand-offs need checkpoints (AGENT_CHECKPOINT is off)');
  const sealed = o[HANDOFF_METADATA_KEY];
  if (typeof sealed !== 'string' || !sealed.startsWith(PREFIX))
    throw new TicketError('invalid', 'not a hand-off ticket');
  const opened = open(sealed.slice(PREFIX.length), key, AAD);
  if ('refused' in opened)
    throw opened.refused === 'truncated'
      ? new TicketError('invalid', 'not a hand-off ticket')
      : new TicketError('tampered', 'the hand-off ticket was not sealed by a worker of this deployment');
  const parsed = ticketSchema.safeParse(JSON.parse(opened.plain.toString('utf8')));
  if (!parsed.success) throw new TicketError('invalid', 'the hand-off ticket is not readable');
  const t = parsed.data;
  if (t.room !== bind.room || t.agentName !== bind.agentName)
    throw new TicketError('foreign', 'the hand-off ticket is for another room or agent');
  if (now > t.expiresAt) throw new TicketError('expired', 'the hand-off ticket has expired');
  return t;
}
