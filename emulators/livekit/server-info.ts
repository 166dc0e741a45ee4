import { ServerInfo, ServerInfo_Edition } from '@livekit/protocol';

/** The livekit-server release the dev server speaks as; livekit-client refuses a server without one. */
export const SERVER_VERSION = '1.9.0';
/** Signal protocol version (`ServerInfo.protocol`). */
export const SERVER_PROTOCOL = 16;
/** The dev server is one node. */
export const NODE_ID = 'ND_devserver';

/** What the server says about itself, to clients (join, reconnect) and to agent workers (registration). */
export function serverInfo(extra: Partial<Pick<ServerInfo, 'nodeId' | 'agentProtocol'>> = {}): ServerInfo {
  return new ServerInfo({
    edition: ServerInfo_Edition.Standard,
    version: SERVER_VERSION,
    protocol: SERVER_PROTOCOL,
    nodeId: NODE_ID,
    region: 'local',
    ...extra,
  });
}
