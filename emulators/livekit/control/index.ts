import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApiKeys } from '../api-keys.ts';
import type { RoomDirectory } from '../room-directory.ts';
import { AgentEndpoint } from './agent-endpoint.ts';
import { dispatchService } from './dispatch-service.ts';
import { AgentDispatcher, type AgentDispatcherOptions } from './dispatcher.ts';
import { roomService } from './room-service.ts';
import { TwirpRouter } from './twirp.ts';

export interface ControlPlaneOptions {
  /** The rooms of the media core; the control plane reads and changes rooms only through it. */
  directory: RoomDirectory;
  /** API key → secret. Twirp calls and workers authenticate against these; job tokens are signed with them. */
  keys: ApiKeys;
  /** The server's public `ws://` URL (logged for workers; jobs use the URL the worker connected with). */
  serverUrl: string;
  /** How long a worker has to answer an availability request before the job goes elsewhere (ms, default 10 000). */
  availabilityTimeoutMs?: number;
  /** Warnings (lost workers, malformed messages, failing handlers); silent by default. */
  onWarning?: (msg: string) => void;
  /** Agent jobs starting on a worker and ending (for the agent_job_* webhooks). */
  onJob?: AgentDispatcherOptions['onJob'];
}

export interface ControlPlane {
  /** Serves `/twirp/*`; returns false (and leaves the response alone) for any other path. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Takes `/agent` worker upgrades; returns false for any other path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes worker sockets and stops dispatching. */
  close(): Promise<void>;
}

/**
 * The dev server's control plane: Twirp `RoomService` / `AgentDispatchService` and the `/agent`
 * worker protocol with agent dispatch.
 */
export function createControlPlane(o: ControlPlaneOptions): ControlPlane {
  const warn = o.onWarning ?? (() => {});
  const dispatcher = new AgentDispatcher({
    directory: o.directory,
    keys: o.keys,
    onWarning: warn,
    ...(o.onJob && { onJob: o.onJob }),
  });
  const router = new TwirpRouter({
    keys: o.keys,
    services: {
      'livekit.RoomService': roomService(o.directory, dispatcher),
      'livekit.AgentDispatchService': dispatchService(o.directory, dispatcher),
    },
    onError: (err, route) => warn(`twirp ${route} failed: ${(err as Error)?.stack ?? String(err)}`),
  });
  const agents = new AgentEndpoint({
    dispatcher,
    keys: o.keys,
    worker: {
      onWarning: warn,
      ...(o.availabilityTimeoutMs ? { availabilityTimeoutMs: o.availabilityTimeoutMs } : {}),
    },
  });
  return {
    handleRequest: (req, res) => router.handle(req, res),
    handleUpgrade: (req, socket, head) => agents.handleUpgrade(req, socket, head),
    close: async () => {
      dispatcher.close();
      agents.close();
    },
  };
}
