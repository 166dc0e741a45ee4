import { readFileSync } from 'node:fs';
import pino from 'pino';
import { parse } from 'yaml';
import { defaultConfigPath, loadLiveKitConfig } from '../../shared/livekit-config.ts';
import { type ApiKeys, apiKeys } from './api-keys.ts';
import type { RoomDirectory } from './room-directory.ts';
import { DevServer } from './server.ts';
import { installSrtpKeyObjects } from './srtp-keys.ts';
import { WebhookNotifier } from './webhooks.ts';

export type { RoomDirectory, RoomDirectoryEvents } from './room-directory.ts';

export interface LiveKitDevServerOptions {
  /** TCP port for HTTP/WebSocket; 0 = any free port. Default: livekit.yaml `port`. */
  port?: number;
  /** Interface to bind. Default: livekit.yaml `bind_addresses[0]`. */
  host?: string;
  /** API key → secret. Default: livekit.yaml `keys` (or LIVEKIT_API_KEY/LIVEKIT_API_SECRET). */
  keys?: Record<string, string>;
  /** livekit-server YAML config. Default: the repository's `livekit.yaml`. */
  configPath?: string;
  /** Seconds a participant whose signal socket dropped may take to resume. Default 15. */
  reconnectGrace?: number;
  /** Seconds between `refreshToken` messages to each client. Default 300. */
  tokenRefreshInterval?: number;
  /** pino log level. Default `warn` (`LOG_LEVEL` env overrides). */
  logLevel?: string;
  /**
   * Confine ICE to these UDP ports (e.g. `[50000, 60000]` for a firewall). Default: OS-assigned ports.
   * `livekit.yaml`'s `rtc.port_range_*` is deliberately not applied: werift probes a port and binds it
   * later, so peers created at the same moment (or by another process) can pick the same one; ports
   * the OS assigns cannot collide.
   */
  icePortRange?: [number, number];
  /**
   * Send LiveKit webhooks to these URLs, signed with `apiKey` (default: the first key). Default:
   * livekit.yaml's `webhook:` section (`urls`, `api_key`); none when it has none.
   */
  webhook?: { urls: string[]; apiKey?: string };
}

export interface LiveKitDevServer {
  /** `ws://HOST:PORT`, what clients and server SDKs are given as the LiveKit URL. */
  url: string;
  apiKey: string;
  apiSecret: string;
  directory: RoomDirectory;
  close(): Promise<void>;
}

/**
 * Starts the LiveKit-compatible dev server: signalling, media forwarding and data for the official
 * clients, plus (when present) the control plane's Twirp and agent endpoints on the same port.
 */
export async function startLiveKitDevServer(o: LiveKitDevServerOptions = {}): Promise<LiveKitDevServer> {
  installSrtpKeyObjects();
  const configPath = o.configPath ?? defaultConfigPath;
  const config = loadLiveKitConfig(configPath);
  const raw = (parse(readFileSync(configPath, 'utf8')) ?? {}) as {
    room?: {
      empty_timeout?: number;
      departure_timeout?: number;
      max_participants?: number;
      enable_remote_unmute?: boolean;
    };
    rtc?: { node_ip?: string };
    webhook?: { api_key?: string; urls?: string[] };
  };
  const rtc = raw.rtc ?? {};
  const keys = apiKeys(o.keys ?? config.keys);
  const [apiKey, apiSecret] = [...keys][0] ?? [];
  if (!apiKey || apiSecret === undefined) throw new Error('LiveKit dev server: no API key configured');
  // Logs go to stderr: stdout carries only what scripts read (the CLI's URL line).
  const logger = pino(
    { name: 'livekit-dev', level: process.env.LOG_LEVEL ?? o.logLevel ?? 'warn' },
    pino.destination(2),
  );
  const host = o.host ?? config.host;
  const server = new DevServer({
    port: o.port ?? config.port,
    host,
    keys,
    room: {
      emptyTimeout: raw.room?.empty_timeout ?? 300,
      departureTimeout: raw.room?.departure_timeout ?? 20,
      maxParticipants: raw.room?.max_participants ?? 0,
      enableRemoteUnmute: raw.room?.enable_remote_unmute ?? false,
    },
    signal: {
      pingInterval: 5,
      pingTimeout: 15,
      reconnectGrace: (o.reconnectGrace ?? 15) * 1000,
      maxBufferedBytes: 16 * 1024 * 1024,
      tokenRefreshInterval: (o.tokenRefreshInterval ?? 300) * 1000,
      refreshedTokenTtl: 15 * 60,
      peer: {
        portRange: o.icePortRange,
        nodeIp: rtc.node_ip,
      },
    },
    maxSignalFrame: 1024 * 1024,
    log: (msg, extra) => logger.warn(extra ?? {}, msg),
    onAgentJob: (event, job) => hooks?.agentJob(event, job),
  });
  const hooks = webhookNotifier(server, keys, o.webhook ?? fileWebhook(raw.webhook), (msg, extra) =>
    logger.warn(extra ?? {}, msg),
  );
  const { port } = await server.listen();
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `ws://${urlHost}:${port}`,
    apiKey,
    apiSecret,
    directory: server.directory,
    close: async () => {
      await server.close();
      // After the rooms closed, so their room_finished events are among those flushed.
      await hooks?.close();
    },
  };
}

function fileWebhook(w: { api_key?: string; urls?: string[] } | undefined) {
  return w?.urls?.length ? { urls: w.urls, apiKey: w.api_key } : undefined;
}

function webhookNotifier(
  server: DevServer,
  keys: ApiKeys,
  webhook: LiveKitDevServerOptions['webhook'],
  log: (msg: string, extra?: Record<string, unknown>) => void,
): WebhookNotifier | undefined {
  if (!webhook?.urls.length) return undefined;
  const apiKey = webhook.apiKey ?? [...keys.keys()][0]!;
  const apiSecret = keys.get(apiKey);
  // livekit-server refuses to start in this case too: events nobody can verify are worse than none.
  if (apiSecret === undefined)
    throw new Error(`LiveKit dev server: webhook api_key "${apiKey}" is not one of the keys`);
  return new WebhookNotifier(server.directory, { urls: webhook.urls, apiKey, apiSecret, log });
}
