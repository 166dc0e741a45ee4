/**
 * LiveKit webhooks from the dev server, checked the way a backend receives them: `livekit-server-sdk`'s
 * `WebhookReceiver` verifies each request, with real `@livekit/rtc-node` participants causing the events.
 */

import { once } from 'node:events';
import { TrackType, type WebhookEvent } from '@livekit/protocol';
import { dispose } from '@livekit/rtc-node';
import { RoomServiceClient, WebhookReceiver } from 'livekit-server-sdk';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { WebhookNotifier } from '../emulators/livekit/webhooks.ts';
import { webhookEndpoint } from './fixtures/webhook-endpoint.ts';
import { freePort } from './livekit-control-helpers.ts';
import { connectRtc, mintToken, publishTone, tempLiveKitConfig, waitFor } from './livekit-helpers.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => dispose());

async function start(o: Parameters<typeof startLiveKitDevServer>[0]): Promise<LiveKitDevServer> {
  const server = await startLiveKitDevServer({ port: 0, host: '127.0.0.1', ...o });
  cleanups.push(() => server.close());
  return server;
}

describe('LiveKit dev server webhooks', () => {
  it('sends a room’s lifecycle as signed webhooks that WebhookReceiver accepts, in order', async () => {
    const hook = await webhookEndpoint();
    cleanups.push(() => hook.close());
    // Configured the way livekit-server is: livekit.yaml's webhook section.
    const config = tempLiveKitConfig(
      (yaml) => `${yaml}webhook:\n  api_key: devkey\n  urls:\n    - ${hook.url}\n`,
    );
    cleanups.push(() => config.remove());
    const server = await start({ configPath: config.path });
    const receiver = new WebhookReceiver(server.apiKey, server.apiSecret);
    const events = async () => Promise.all(hook.got.map((d) => receiver.receive(d.body, d.authorization)));
    const names = async () => (await events()).map((e) => e.event);
    const alice = await connectRtc(server, 'alice', 'wh-life');
    // "Joined" means connected (ACTIVE), which can come a moment after the SDK's connect returns.
    await waitFor(async () => (await names()).includes('participant_joined'), 'participant_joined');
    const stop = await publishTone(alice, 440);
    const pub = [...alice.localParticipant!.trackPublications.values()][0]!;
    await waitFor(async () => (await names()).includes('track_published'), 'track_published');
    stop();
    await alice.localParticipant!.unpublishTrack(pub.sid!);
    await alice.disconnect();
    await new RoomServiceClient(server.url, server.apiKey, server.apiSecret).deleteRoom('wh-life');
    await waitFor(async () => (await names()).includes('room_finished'), 'room_finished');

    expect(await names()).toEqual([
      'room_started',
      'participant_joined',
      'track_published',
      'track_unpublished',
      'participant_left',
      'room_finished',
    ]);
    const all = await events();
    const byName = (n: string) => all.find((e) => e.event === n) as WebhookEvent;
    for (const e of all) {
      expect(e.room?.name).toBe('wh-life');
      expect(e.id).toMatch(/^EV_/);
      expect(Number(e.createdAt)).toBeGreaterThan(Date.now() / 1000 - 120);
    }
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    expect(byName('room_started').room?.sid).toMatch(/^RM_/);
    expect(byName('participant_joined').participant?.identity).toBe('alice');
    expect(byName('participant_left').participant?.identity).toBe('alice');
    const published = byName('track_published');
    expect(published.track?.sid).toBe(pub.sid);
    expect(published.track?.type).toBe(TrackType.AUDIO);
    expect(published.participant?.identity).toBe('alice');
    expect(byName('track_unpublished').track?.sid).toBe(pub.sid);
    // The wire format livekit-server uses: its own content type, the bare JWT, camelCase protobuf JSON.
    for (const d of hook.got) {
      expect(d.contentType).toBe('application/webhook+json');
      expect(d.authorization).not.toMatch(/^Bearer /);
    }
    expect(JSON.parse(hook.got[0]!.body)).toMatchObject({ event: 'room_started', room: { name: 'wh-life' } });
    expect(typeof JSON.parse(hook.got[0]!.body).createdAt).toBe('string');
    // The signature covers the body: a changed body is refused.
    const tampered = hook.got[0]!.body.replace('wh-life', 'wh-evil');
    await expect(receiver.receive(tampered, hook.got[0]!.authorization)).rejects.toThrow(/sha256/);
    await expect(
      new WebhookReceiver(server.apiKey, 'another-secret-0123456789abcdefghij').receive(
        hook.got[0]!.body,
        hook.got[0]!.authorization,
      ),
    ).rejects.toThrow();
  }, 60_000);

  it('retries an endpoint that fails with 5xx, and takes a 4xx as its final answer', async () => {
    const flaky = await webhookEndpoint([503]);
    const refusing = await webhookEndpoint([400]);
    cleanups.push(
      () => flaky.close(),
      () => refusing.close(),
    );
    const server = await start({ webhook: { urls: [flaky.url, refusing.url] } });
    await new RoomServiceClient(server.url, server.apiKey, server.apiSecret).createRoom({ name: 'wh-retry' });
    const receiver = new WebhookReceiver(server.apiKey, server.apiSecret);
    await waitFor(() => flaky.got.length === 2, 'a retry after the 503');
    const [first, second] = await Promise.all(
      flaky.got.map((d) => receiver.receive(d.body, d.authorization)),
    );
    expect(first?.event).toBe('room_started');
    expect(second?.id).toBe(first?.id);
    // One attempt at the endpoint that answered 400, then nothing more for that event.
    await new Promise((r) => setTimeout(r, 1500));
    expect(refusing.got).toHaveLength(1);
  }, 30_000);

  it('reports a participant whose connection never came up as participant_connection_aborted', async () => {
    const hook = await webhookEndpoint();
    cleanups.push(() => hook.close());
    const server = await start({ webhook: { urls: [hook.url] }, reconnectGrace: 1 });
    // A client that gets its JoinResponse and vanishes before any peer connection is up.
    const token = await mintToken(server, 'ghost', { room: 'wh-abort' });
    const ws = new WebSocket(`${server.url}/rtc?access_token=${token}&protocol=16`);
    await once(ws, 'message');
    ws.terminate();
    const receiver = new WebhookReceiver(server.apiKey, server.apiSecret);
    const names = async () =>
      (await Promise.all(hook.got.map((d) => receiver.receive(d.body, d.authorization)))).map((e) => e.event);
    await waitFor(async () => (await names()).includes('participant_connection_aborted'), 'the abort');
    expect(await names()).not.toContain('participant_joined');
    expect(await names()).not.toContain('participant_left');
  }, 30_000);

  it('logs a delivery that keeps failing without the URL’s query', async () => {
    const server = await start({});
    const logs: { msg: string; extra?: Record<string, unknown> }[] = [];
    const closed = await freePort();
    const notifier = new WebhookNotifier(server.directory, {
      // Nothing listens there: every attempt is refused.
      urls: [`http://127.0.0.1:${closed}/hook?token=s3cret`],
      apiKey: server.apiKey,
      apiSecret: server.apiSecret,
      retries: 1,
      retryWaitMs: 10,
      log: (msg, extra) => logs.push({ msg, extra }),
    });
    cleanups.push(() => notifier.close());
    server.directory.ensureRoom('wh-dead');
    await waitFor(() => logs.length > 0, 'the failure logged');
    expect(logs[0]).toMatchObject({
      msg: 'webhook failed',
      extra: {
        url: `http://127.0.0.1:${closed}/hook`,
        event: 'room_started',
        attempts: 2,
        failure: 'ECONNREFUSED',
      },
    });
    expect(JSON.stringify(logs)).not.toMatch(/s3cret/);
  });

  it('refuses to start with a webhook URL that is not http(s), without echoing its secrets', async () => {
    const err = await start({ webhook: { urls: ['ftp://user:pw@example.com/hook?token=s3cret'] } }).catch(
      (e: Error) => e,
    );
    expect(String(err)).toMatch(/webhook URL "ftp:\/\/example.com\/hook" is not an http\(s\) URL/);
    expect(String(err)).not.toMatch(/s3cret|pw/);
    await expect(start({ webhook: { urls: ['https://user:pw@example.com/hook'] } })).rejects.toThrow(
      /webhook URL "https:\/\/example.com\/hook" must not carry credentials/,
    );
  });

  it('refuses to start when the webhook key is not one of its keys', async () => {
    await expect(start({ webhook: { urls: ['http://127.0.0.1:9/x'], apiKey: 'unknown' } })).rejects.toThrow(
      /webhook api_key "unknown" is not one of the keys/,
    );
  });
});
