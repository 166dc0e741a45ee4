import { type Job, ParticipantInfo, Room as RoomInfo, type TrackInfo, WebhookEvent } from '@livekit/protocol';
import { postSignedWebhook, shownUrl, webhookUrlProblem } from '../../shared/webhook-signing.ts';
import { newId } from './ids.ts';
import type { RoomDirectory } from './room-directory.ts';

/** Where and how the dev server sends LiveKit webhooks (livekit.yaml's `webhook:` section). */
export interface WebhookOptions {
  /** Endpoints every event is POSTed to (`webhook.urls`). */
  urls: string[];
  /** The key whose secret signs each event (`webhook.api_key`); receivers verify with the same pair. */
  apiKey: string;
  apiSecret: string;
  /** Attempts after the first one, for connection errors, timeouts, 429 and 5xx except 501. Default 4. */
  retries?: number;
  /** Wait before the first retry, doubled for each next one up to 30 s. Default 1000 ms. */
  retryWaitMs?: number;
  /** An event still queued after this long is dropped, as livekit-server does. Default 30 000 ms. */
  maxAgeMs?: number;
  /** Events waiting per room and endpoint; beyond it new ones are dropped. Default 200. */
  maxDepth?: number;
  /** One request's time limit: a hung endpoint must not hold its room's queue forever. Default 10 000 ms. */
  timeoutMs?: number;
  /** Dropped and failed deliveries (never the secret or the token). */
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

interface Queued {
  event: WebhookEvent;
  queuedAt: number;
}

/**
 * Sends the dev server's room events as LiveKit webhooks: the same event names, protobuf-JSON body,
 * `application/webhook+json` content type and signed `Authorization` JWT (its `sha256` claim covers
 * the exact body) as livekit-server, so a backend's `WebhookReceiver` accepts both. Each room's events
 * reach each endpoint in order, one at a time, like livekit-server's per-resource queues.
 */
export class WebhookNotifier {
  readonly #o: Required<Omit<WebhookOptions, 'log'>> & Pick<WebhookOptions, 'log'>;
  /** `${url}\n${room}` → its queue; the entry lives while its worker runs. */
  readonly #queues = new Map<string, Queued[]>();
  readonly #workers = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #unsubscribe: (() => void)[];
  #closing = false;

  constructor(directory: RoomDirectory, o: WebhookOptions) {
    for (const url of o.urls) {
      const problem = webhookUrlProblem(url);
      if (problem) throw new Error(`webhook URL ${JSON.stringify(shownUrl(url))} ${problem}`);
    }
    this.#o = { retries: 4, retryWaitMs: 1000, maxAgeMs: 30_000, maxDepth: 200, timeoutMs: 10_000, ...o };
    // Track events carry only the room's and participant's ids, as livekit-server sends them.
    const roomRef = (r: RoomInfo) => new RoomInfo({ sid: r.sid, name: r.name });
    const who = (p: ParticipantInfo) => new ParticipantInfo({ sid: p.sid, identity: p.identity });
    this.#unsubscribe = [
      directory.on('roomStarted', (room) => this.#emit('room_started', { room })),
      directory.on('participantActive', (room, participant) =>
        this.#emit('participant_joined', { room, participant }),
      ),
      directory.on('participantLeft', (room, participant, wasActive) =>
        this.#emit(wasActive ? 'participant_left' : 'participant_connection_aborted', { room, participant }),
      ),
      directory.on('trackPublished', (room, participant, track) =>
        this.#emit('track_published', { room: roomRef(room), participant: who(participant), track }),
      ),
      directory.on('trackUnpublished', (room, participant, track) =>
        this.#emit('track_unpublished', { room: roomRef(room), participant: who(participant), track }),
      ),
      directory.on('roomFinished', (room) => this.#emit('room_finished', { room })),
    ];
  }

  /** An agent job started running on a worker, or ended: `agent_job_started` / `agent_job_ended`. */
  agentJob(event: 'started' | 'ended', job: Job): void {
    if (this.#closing || !job.room) return;
    this.#emit(`agent_job_${event}`, { room: new RoomInfo({ sid: job.room.sid, name: job.room.name }), job });
  }

  /** Stops taking events and gives those queued up to `flushMs` to go out; the rest are abandoned. */
  async close(flushMs = 2000): Promise<void> {
    this.#closing = true;
    for (const off of this.#unsubscribe) off();
    const flushed = Promise.allSettled([...this.#workers]);
    const deadline = new Promise((r) => setTimeout(r, flushMs).unref());
    await Promise.race([flushed, deadline]);
    this.#abort.abort();
    await flushed;
  }

  #emit(
    event: string,
    o: { room: RoomInfo; participant?: ParticipantInfo; track?: TrackInfo; job?: Job },
  ): void {
    const e = new WebhookEvent({
      event,
      ...o,
      id: newId('EV_'),
      createdAt: BigInt(Math.floor(Date.now() / 1000)),
    });
    for (const url of this.#o.urls) this.#enqueue(url, o.room.name, e);
  }

  #enqueue(url: string, room: string, event: WebhookEvent): void {
    const key = `${url}\n${room}`;
    const queue = this.#queues.get(key);
    if (queue) {
      if (queue.length >= this.#o.maxDepth) {
        this.#o.log?.('webhook dropped: queue full', { url: shownUrl(url), room, event: event.event });
        return;
      }
      queue.push({ event, queuedAt: Date.now() });
      return;
    }
    const fresh = [{ event, queuedAt: Date.now() }];
    this.#queues.set(key, fresh);
    const worker = this.#drain(url, key, fresh).finally(() => this.#workers.delete(worker));
    this.#workers.add(worker);
  }

  async #drain(url: string, key: string, queue: Queued[]): Promise<void> {
    for (let next = queue.shift(); next; next = queue.shift()) {
      if (this.#abort.signal.aborted) break;
      if (Date.now() - next.queuedAt > this.#o.maxAgeMs) {
        this.#o.log?.('webhook dropped: too old', { url: shownUrl(url), event: next.event.event });
        continue;
      }
      await this.#deliver(url, next.event);
    }
    this.#queues.delete(key);
  }

  async #deliver(url: string, event: WebhookEvent): Promise<void> {
    const result = await postSignedWebhook({
      url,
      body: event.toJsonString(),
      apiKey: this.#o.apiKey,
      apiSecret: this.#o.apiSecret,
      retries: this.#o.retries,
      retryWaitMs: this.#o.retryWaitMs,
      timeoutMs: this.#o.timeoutMs,
      signal: this.#abort.signal,
    });
    if (result.outcome !== 'failed') return;
    this.#o.log?.('webhook failed', {
      url: shownUrl(url),
      event: event.event,
      attempts: result.attempts,
      failure: result.failure,
    });
  }
}
