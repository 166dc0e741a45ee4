import { RoomServiceClient } from 'livekit-server-sdk';

/**
 * The room metadata key that holds checkpoints: an object of sealed checkpoints by agent name (`""` for
 * automatic dispatch), so that several agents in one room each keep their own. Room config parsing
 * (config/room.ts) takes only its known keys, so this one never reads as configuration.
 */
export const CHECKPOINT_METADATA_KEY = 'lk.agent.checkpoint';

/** Room metadata as an object, `{}` when empty; undefined when it is something else (the application's). */
export function metadataObject(metadata: string | undefined): Record<string, unknown> | undefined {
  const text = metadata?.trim();
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The sealed checkpoint of `agentName` in room metadata, if there is one. */
export function sealedFromMetadata(metadata: string | undefined, agentName: string): string | undefined {
  const slot = metadataObject(metadata)?.[CHECKPOINT_METADATA_KEY];
  if (!slot || typeof slot !== 'object' || Array.isArray(slot)) return undefined;
  const sealed = (slot as Record<string, unknown>)[agentName];
  return typeof sealed === 'string' ? sealed : undefined;
}

/** Room metadata with `agentName`'s checkpoint set (or removed, `sealed` undefined), every other key kept. */
export function withSealed(
  metadata: string | undefined,
  agentName: string,
  sealed: string | undefined,
): string | undefined {
  const o = metadataObject(metadata);
  if (!o) return undefined;
  const prev = o[CHECKPOINT_METADATA_KEY];
  const slot: Record<string, unknown> =
    prev && typeof prev === 'object' && !Array.isArray(prev) ? { ...prev } : {};
  if (sealed === undefined) delete slot[agentName];
  else slot[agentName] = sealed;
  const next: Record<string, unknown> = { ...o };
  if (Object.keys(slot).length) next[CHECKPOINT_METADATA_KEY] = slot;
  else delete next[CHECKPOINT_METADATA_KEY];
  return JSON.stringify(next);
}

/** Options of a {@link CheckpointStore}. */
export interface CheckpointStoreOptions {
  /** The worker's LiveKit URL and key pair (updating room metadata needs `roomAdmin`, which they carry). */
  livekitUrl: string;
  apiKey: string;
  apiSecret: string;
  room: string;
  agentName: string;
}

/**
 * Checkpoints in room metadata: the one LiveKit store that outlives the agent and that clients cannot
 * write (only the server API can), though every participant can read it — hence sealed (codec.ts).
 * Each write reads the room's current metadata and changes only this agent's slot (read-modify-write:
 * the room service has no compare-and-set, so an application that updates room metadata at the same
 * instant may lose its update or ours; the next write puts ours back).
 */
export class CheckpointStore {
  readonly #client: RoomServiceClient;
  readonly #o: CheckpointStoreOptions;

  constructor(o: CheckpointStoreOptions) {
    this.#o = o;
    this.#client = new RoomServiceClient(o.livekitUrl, o.apiKey, o.apiSecret);
  }

  /** The room's current metadata; undefined when the room is gone. */
  async metadata(): Promise<string | undefined> {
    const [room] = await this.#client.listRooms([this.#o.room]);
    return room?.metadata;
  }

  /** This agent's sealed checkpoint, read from the server now. */
  async read(): Promise<string | undefined> {
    return sealedFromMetadata(await this.metadata(), this.#o.agentName);
  }

  /**
   * Writes this agent's sealed checkpoint (`undefined` removes it). `not-object`: the room's metadata
   * is not a JSON object (the application's own text), which we never overwrite; `gone`: no such room;
   * `superseded`: `unless` said no, given the checkpoint there now (another job has taken over).
   */
  async write(
    sealed: string | undefined,
    unless?: (current: string | undefined) => boolean,
  ): Promise<'ok' | 'not-object' | 'gone' | 'superseded'> {
    const [room] = await this.#client.listRooms([this.#o.room]);
    if (!room) return 'gone';
    if (unless?.(sealedFromMetadata(room.metadata, this.#o.agentName))) return 'superseded';
    const next = withSealed(room.metadata, this.#o.agentName, sealed);
    if (next === undefined) return 'not-object';
    if (next !== room.metadata) await this.#client.updateRoomMetadata(this.#o.room, next);
    return 'ok';
  }
}
