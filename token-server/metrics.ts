import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import type { RejectionReason } from './errors.ts';

/** Kinds of token the server mints. */
export type TokenKind = 'livekit' | 'gemini';

/**
 * The server's Prometheus metrics, in a registry of its own so several servers in one process (tests,
 * the `npm start` stack) never collide on the global one.
 */
export class TokenServerMetrics {
  readonly registry = new Registry();
  readonly #minted = new Counter({
    name: 'token_server_tokens_minted_total',
    help: 'Tokens minted, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly #rejected = new Counter({
    name: 'token_server_rejections_total',
    help: 'Requests refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    // Process CPU, memory, event-loop lag: what the Deployment's autoscaling and alerts look at.
    collectDefaultMetrics({ register: this.registry });
    // Zero series exist from the start, so rate() works before the first event.
    for (const kind of ['livekit', 'gemini'] satisfies TokenKind[]) this.#minted.inc({ kind }, 0);
  }

  minted(kind: TokenKind): void {
    this.#minted.inc({ kind });
  }

  rejected(reason: RejectionReason): void {
    this.#rejected.inc({ reason });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
