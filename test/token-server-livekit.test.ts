// Credentials from the token server used for real: livekit-client's TokenSource fetches them, an
// @livekit/rtc-node participant joins the LiveKit dev server with them, and the server's own APIs
// (RoomService, AgentDispatchService via livekit-server-sdk) show the identity, attributes and the agent
// dispatch the token asked for.
import { dispose, Room } from '@livekit/rtc-node';
import { TokenSource } from 'livekit-client';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { startTokenServer, type TokenServer } from '../token-server/index.ts';

let livekit: LiveKitDevServer;
let tokens: TokenServer;
const rooms: Room[] = [];

beforeAll(async () => {
  livekit = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  tokens = await startTokenServer({
    livekitUrl: livekit.url,
    apiKey: livekit.apiKey,
    apiSecret: livekit.apiSecret,
    agentName: 'gemini-agent',
    logger: pino({ level: 'silent' }),
  });
});

afterAll(async () => {
  await Promise.all(rooms.map((r) => r.disconnect().catch(() => {})));
  await tokens?.close();
  await livekit?.close();
  await dispose();
});

describe('a token from the token server on the LiveKit dev server', () => {
  it('joins the requested room as the requested participant, with the agent dispatched by the token', async () => {
    const source = TokenSource.endpoint(`${tokens.url}/livekit/token`);
    const creds = await source.fetch({
      roomName: 'ts-e2e',
      participantIdentity: 'erin',
      participantName: 'Erin',
      participantMetadata: '{"seat":3}',
      participantAttributes: { lang: 'en' },
      agentName: 'gemini-agent',
      agentMetadata: '{"voice":"Kore"}',
    });
    expect(creds.serverUrl).toBe(livekit.url);

    const room = new Room();
    rooms.push(room);
    await room.connect(creds.serverUrl, creds.participantToken, { autoSubscribe: false, dynacast: false });
    expect(room.name).toBe('ts-e2e');
    expect(room.localParticipant?.identity).toBe('erin');

    const listed = await new RoomServiceClient(
      livekit.url,
      livekit.apiKey,
      livekit.apiSecret,
    ).listParticipants('ts-e2e');
    const erin = listed.find((p) => p.identity === 'erin');
    expect(erin).toMatchObject({ name: 'Erin', metadata: '{"seat":3}', attributes: { lang: 'en' } });
    expect(erin?.permission).toMatchObject({ canPublish: true, canSubscribe: true, canPublishData: true });

    const dispatches = await new AgentDispatchClient(
      livekit.url,
      livekit.apiKey,
      livekit.apiSecret,
    ).listDispatch('ts-e2e');
    expect(dispatches.map((d) => ({ agentName: d.agentName, metadata: d.metadata }))).toEqual([
      { agentName: 'gemini-agent', metadata: '{"voice":"Kore"}' },
    ]);
  });
});
