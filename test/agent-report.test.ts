/**
 * Conversation reports (#15): collected from a real room bridge on the LiveKit dev server + Gemini
 * emulator, POSTed signed like LiveKit webhooks and verified with livekit-server-sdk's WebhookReceiver;
 * retries, the shutdown deadline and the size bounds.
 */
import type { Room } from '@livekit/rtc-node';
import { WebhookReceiver } from 'livekit-server-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { RoomBridge } from '../agent/bridge/room-bridge.ts';
import { ConfigError, opsSettings, resolveRoomConfig } from '../agent/config.ts';
import { silentLogger } from '../agent/log.ts';
import { ReportBuilder } from '../agent/report/builder.ts';
import {
  type ConversationReport,
  type ReportHandle,
  type ReportOptions,
  reportBody,
  startReport,
  type TranscriptEntry,
  type TranscriptGap,
} from '../agent/report/index.ts';
import { sendReport } from '../agent/report/webhook.ts';
import { defaultRegistry } from '../agent/tools/index.ts';
import { connect, Human, liveSessions, type Stack, startStack, until } from './fixtures/agent/kit.ts';
import { type WebhookEndpoint, webhookEndpoint } from './fixtures/webhook-endpoint.ts';

const KEY = 'report-key';
const SECRET = 'report-secret-of-at-least-32-characters';

let stack: Stack | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  await stack?.close();
  stack = undefined;
}, 120_000);

async function endpoint(statuses: number[] = []): Promise<WebhookEndpoint> {
  const e = await webhookEndpoint(statuses);
  cleanups.push(() => e.close());
  return e;
}

async function human(s: Stack, room: string, identity: string): Promise<Human> {
  const h = await Human.join(s.lk, room, identity);
  cleanups.push(() => h.close());
  return h;
}

/**
 * An in-process agent whose report is collected from before its bridge starts, as agent/entry.ts does;
 * the Live sessions' usage goes to the report.
 */
async function reportingAgent(
  s: Stack,
  roomName: string,
  o: Omit<ReportOptions, 'room' | 'bridge' | 'jobId' | 'config' | 'logger'>,
): Promise<{ agentRoom: Room; bridge: RoomBridge; report: ReportHandle; close: () => Promise<void> }> {
  const agentRoom = await connect(s.lk, roomName, 'agent-report');
  // 2.5: the scripted turns answer speech and a blocking tool call (on 3.8 joins are turns of their own
  // and tools run non-blocking; test/agent-models.test.ts covers that model).
  const config = resolveRoomConfig({ model: 'gemini-2.5-flash-native-audio-preview-12-2025' });
  const bridge = new RoomBridge({
    room: agentRoom,
    config,
    tools: defaultRegistry(),
    liveSession: liveSessions(s),
  });
  const report = startReport({
    room: agentRoom,
    bridge,
    jobId: 'AJ_report_test',
    config,
    logger: silentLogger,
    ...o,
  });
  const close = async () => {
    await bridge.aclose();
    await agentRoom.disconnect();
  };
  cleanups.push(close);
  await bridge.start();
  return { agentRoom, bridge, report, close };
}

/** What a backend does: verify with WebhookReceiver, then read the report from the verified body. */
async function receive(body: string, authorization: string | undefined, secret = SECRET) {
  const event = await new WebhookReceiver(KEY, secret).receive(body, authorization);
  return { event, report: (JSON.parse(body) as { report: ConversationReport }).report };
}

const lines = (r: ConversationReport) => r.transcript.filter((t): t is TranscriptEntry => 'speaker' in t);

function sampleReport(): ConversationReport {
  const b = new ReportBuilder({
    room: { name: 'r', sid: 'RM_x' },
    jobId: 'AJ_x',
    agentIdentity: 'agent-x',
    model: 'm',
    policy: 'shared',
  });
  b.joined('alice', 'Alice');
  b.said({ speaker: { kind: 'user', identity: 'alice' }, text: 'hello' });
  return b.build();
}

describe('conversation report', { timeout: 240_000 }, () => {
  it('two humans and a tool call: the webhook gets a report WebhookReceiver verifies, with who said what', async () => {
    stack = await startStack({
      pacing: 4,
      scenario: {
        turns: [
          { steps: [{ echo: true }] },
          {
            steps: [
              { toolCall: { name: 'get_weather', args: { city: 'Paris' } } },
              { say: 'Weather {{result.get_weather}}' },
            ],
          },
        ],
      },
    });
    const hook = await endpoint();
    const delivered: ConversationReport[] = [];
    const alice = await human(stack, 'r-report', 'alice');
    const { agentRoom, bridge, report, close } = await reportingAgent(stack, 'r-report', {
      onReport: (r) => {
        delivered.push(r);
      },
      webhook: { url: `${hook.url}?token=query-secret`, apiKey: KEY, apiSecret: SECRET },
    });
    const bob = await human(stack, 'r-report', 'bob');
    await until(() => bridge.state === 'listening', 'agent listening');
    const agentSid = await until(() => alice.agentTrackSid(), 'agent track');

    await alice.mic.say(0.8);
    await until(() => alice.finals(agentSid).length === 1, 'echo of alice');
    await until(() => bridge.state === 'listening', 'listening again');
    await bob.mic.say(1.2, { seed: 2 });
    await until(() => alice.finals(agentSid).find((t) => t.text.includes('Weather')), 'tool answer');
    await until(() => bridge.state === 'listening', 'listening after the tool answer');
    await alice.sendChat('and tomorrow?');
    await until(() => alice.finals(agentSid).find((t) => t.text.includes('You said')), 'chat answer');
    await until(() => bridge.state === 'listening', 'listening after the chat answer');
    await bob.close();
    await until(() => !agentRoom.remoteParticipants.has('bob'), 'the agent sees bob leave');

    await close();
    const finished = await report.finish();

    expect(hook.got).toHaveLength(1);
    const [d] = hook.got;
    expect(d!.contentType).toBe('application/webhook+json');
    const { event, report: r } = await receive(d!.body, d!.authorization);
    expect(event.event as string).toBe('conversation_report');
    expect(event.room?.name).toBe('r-report');
    expect(event.id).toMatch(/^RP_/);
    // The same report went to onReport, the webhook and finish().
    expect(r).toEqual(finished);
    expect(delivered).toEqual([finished]);
    // A body changed on the way, or signed with another secret, is refused.
    await expect(receive(d!.body.replace('Paris', 'Rome!'), d!.authorization)).rejects.toThrow(/sha256/);
    await expect(receive(d!.body, d!.authorization, 'another-secret-of-at-least-32-chars')).rejects.toThrow();

    expect(r).toMatchObject({
      version: 1,
      room: { name: 'r-report', sid: expect.stringMatching(/^RM_/) },
      jobId: 'AJ_report_test',
      agentIdentity: 'agent-report',
      model: 'gemini-2.5-flash-native-audio-preview-12-2025',
      policy: 'shared',
      reconnects: [],
      errors: [],
    });
    expect(Date.parse(r.endedAt) - Date.parse(r.startedAt)).toBe(r.durationMs);
    expect(r.participants).toEqual([
      { identity: 'alice', name: 'Alice', joinedAt: expect.any(String) },
      { identity: 'bob', name: 'Bob', joinedAt: expect.any(String), leftAt: expect.any(String) },
    ]);
    const who = lines(r).map((t) => [t.speaker.kind, t.speaker.identity, t.chat ?? false]);
    expect(who).toEqual([
      ['user', 'alice', false],
      ['agent', 'agent-report', false],
      ['user', 'bob', false],
      ['agent', 'agent-report', false],
      ['user', 'alice', true],
      ['agent', 'agent-report', false],
    ]);
    const [aliceSaid, , bobSaid, weather, chat, answer] = lines(r);
    expect(aliceSaid).toMatchObject({
      speaker: { name: 'Alice' },
      text: expect.stringMatching(/^\[speech \d\.\ds\]$/),
    });
    expect(bobSaid).toMatchObject({
      speaker: { name: 'Bob' },
      text: expect.stringMatching(/^\[speech \d\.\ds\]$/),
    });
    expect(weather!.text).toContain('"temperature":17');
    expect(chat).toMatchObject({ text: 'and tomorrow?', chat: true, speaker: { name: 'Alice' } });
    expect(answer!.text).toContain('[Alice] and tomorrow?');
    expect(r.toolCalls).toEqual([
      {
        id: expect.any(String),
        name: 'get_weather',
        args: { city: 'Paris' },
        outcome: 'ok',
        at: expect.any(String),
        durationMs: expect.any(Number),
        participant: 'bob',
      },
    ]);
    expect(r.toolCalls[0]!.durationMs).toBeGreaterThanOrEqual(0);
    // Every model turn's usage, summed (the emulator reports audio tokens both ways).
    expect(r.usage?.reports).toBeGreaterThanOrEqual(3);
    expect(r.usage?.input.byModality.AUDIO).toBeGreaterThan(0);
    expect(r.usage?.output.byModality.AUDIO).toBeGreaterThan(0);
    expect(r.usage?.total).toBe(r.usage!.input.tokens + r.usage!.output.tokens);
    // finish() is done once.
    expect(await report.finish()).toBe(finished);
    expect(hook.got).toHaveLength(1);
  });

  it('an endpoint that never answers, and an onReport that never returns, do not hold the shutdown past the deadline', async () => {
    stack = await startStack({ pacing: 4 });
    const hook = await endpoint([0, 0, 0, 0, 0, 0]);
    const { report, close } = await reportingAgent(stack, 'r-hang', {
      onReport: () => new Promise(() => {}),
      webhook: { url: hook.url, apiKey: KEY, apiSecret: SECRET, deadlineMs: 600 },
    });
    await close();
    // Without the deadline this would wait for ever (the test's time-out).
    await report.finish();
    expect(hook.got.length).toBeGreaterThanOrEqual(1);
  });
});

describe('report webhook delivery', () => {
  it('retries a 503 with back-off and delivers the same signed body; a 400 is final', async () => {
    const report = sampleReport();
    const hook = await endpoint([503]);
    const result = await sendReport(
      report,
      { url: hook.url, apiKey: KEY, apiSecret: SECRET, retryWaitMs: 20 },
      silentLogger,
    );
    expect(result).toEqual({ outcome: 'delivered', attempts: 2 });
    expect(hook.got).toHaveLength(2);
    expect(hook.got[1]!.body).toBe(hook.got[0]!.body);
    for (const d of hook.got) expect((await receive(d.body, d.authorization)).report).toEqual(report);

    const refusing = await endpoint([400]);
    const refused = await sendReport(
      report,
      { url: refusing.url, apiKey: KEY, apiSecret: SECRET, retryWaitMs: 20 },
      silentLogger,
    );
    expect(refused).toEqual({ outcome: 'refused', attempts: 1, failure: 'HTTP 400' });
    expect(refusing.got).toHaveLength(1);
  });

  it('gives up after its retries when the endpoint keeps failing', async () => {
    const hook = await endpoint([500, 502, 429]);
    const result = await sendReport(
      sampleReport(),
      { url: hook.url, apiKey: KEY, apiSecret: SECRET, retries: 2, retryWaitMs: 10 },
      silentLogger,
    );
    expect(result).toEqual({ outcome: 'failed', attempts: 3, failure: 'HTTP 429' });
    expect(hook.got).toHaveLength(3);
  });
});

describe('report settings', () => {
  it('AGENT_REPORT_WEBHOOK_URL must be http(s) without credentials; errors never quote it', () => {
    const url = 'https://reports.example/hook?token=s3cret';
    expect(opsSettings({ AGENT_REPORT_WEBHOOK_URL: url })).toMatchObject({
      reportWebhookUrl: url,
      reportTimeoutMs: 5000,
    });
    expect(opsSettings({}).reportWebhookUrl).toBeUndefined();
    expect(opsSettings({ AGENT_REPORT_TIMEOUT_S: '1.5' }).reportTimeoutMs).toBe(1500);
    for (const bad of [
      'ftp://reports.example/s3cret',
      'https://user:s3cret@reports.example/hook',
      's3cret',
    ]) {
      let err: unknown;
      try {
        opsSettings({ AGENT_REPORT_WEBHOOK_URL: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect(String(err)).toMatch(/AGENT_REPORT_WEBHOOK_URL/);
      expect(String(err)).not.toContain('s3cret');
    }
    expect(() => opsSettings({ AGENT_REPORT_TIMEOUT_S: '0' })).toThrow(/AGENT_REPORT_TIMEOUT_S/);
  });
});

describe('report size bounds', () => {
  it('a long transcript keeps its beginning and end with a gap marker; long entries and arguments are cut', () => {
    const b = new ReportBuilder({
      room: { name: 'r', sid: 'RM_x' },
      jobId: 'AJ_x',
      agentIdentity: 'agent-x',
      model: 'm',
      policy: 'shared',
    });
    const n = 5000;
    for (let i = 0; i < n; i++) {
      b.said({
        speaker: { kind: i % 2 ? 'agent' : 'user', identity: i % 2 ? 'agent-x' : 'alice' },
        text: `line ${i} ${'é'.repeat(100)}`,
      });
    }
    b.said({ speaker: { kind: 'user', identity: 'alice' }, text: `${'€'.repeat(10_000)}`, chat: true });
    b.toolStarted({ id: 'c1', name: 'store', args: { blob: 'x'.repeat(10_000) } });
    b.toolFinished({ id: 'c1', name: 'store', ok: false, error: 'timed out after 20000 ms' });
    const r = b.build();

    const gaps = r.transcript.filter((t): t is TranscriptGap => 'gap' in t);
    expect(gaps).toHaveLength(1);
    const kept = lines(r);
    expect(kept.length).toBeLessThanOrEqual(1000);
    expect(gaps[0]!.omittedEntries).toBe(n + 1 - kept.length);
    expect(gaps[0]!.text).toMatch(/^\[… \d+ entries \(\d+ bytes\) omitted …\]$/);
    // The beginning, the marker, then the end, in order.
    expect(kept[0]!.text).toMatch(/^line 0 /);
    const gapAt = r.transcript.indexOf(gaps[0]!);
    expect((r.transcript[gapAt - 1] as TranscriptEntry).text).toMatch(/^line \d+ /);
    const last = kept.at(-1)!;
    expect(last).toMatchObject({ chat: true, truncated: true });
    expect(Buffer.byteLength(last.text)).toBeLessThanOrEqual(8 * 1024);
    expect(last.text).toMatch(/^€+…$/);
    expect((kept.at(-2) as TranscriptEntry).text).toMatch(new RegExp(`^line ${n - 1} `));
    const textBytes = kept.reduce((s, t) => s + Buffer.byteLength(t.text), 0);
    expect(textBytes).toBeLessThanOrEqual(256 * 1024);
    expect(r.toolCalls[0]).toMatchObject({ outcome: 'timeout', error: 'timed out after 20000 ms' });
    expect(typeof r.toolCalls[0]!.args).toBe('string');
    expect(Buffer.byteLength(r.toolCalls[0]!.args as string)).toBeLessThanOrEqual(2 * 1024);
    // The whole webhook body stays well under a megabyte.
    expect(Buffer.byteLength(reportBody(r))).toBeLessThan(1024 * 1024);
  });
});
