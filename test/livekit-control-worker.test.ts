/**
 * The `/agent` worker protocol of the LiveKit dev server, spoken by a raw protocol client (binary
 * `WorkerMessage`/`ServerMessage` from `@livekit/protocol` over `ws`) so that every scheduling
 * decision can be observed and provoked: registration, ping, load/status, availability and
 * assignment, decline/timeout retries, lost workers and termination. Rooms and participants are
 * real (Twirp via `livekit-server-sdk`, clients via `@livekit/rtc-node`).
 */
import type { PartialMessage } from '@bufbuild/protobuf';
import {
  type AvailabilityRequest,
  type JobAssignment,
  JobStatus,
  JobType,
  type RegisterWorkerResponse,
  ServerMessage,
  WorkerMessage,
  WorkerStatus,
} from '@livekit/protocol';
import { dispose, Room, RoomEvent, type Room as RtcRoom } from '@livekit/rtc-node';
import {
  AccessToken,
  AgentDispatchClient,
  RoomServiceClient,
  TokenVerifier,
  WebhookReceiver,
} from 'livekit-server-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { SERVER_VERSION } from '../emulators/livekit/server-info.ts';
import { Waiters } from '../shared/waiters.ts';
import { type WebhookEndpoint, webhookEndpoint } from './fixtures/webhook-endpoint.ts';
import { connectParticipant, waitFor } from './livekit-control-helpers.ts';

let server: LiveKitDevServer;
let rooms: RoomServiceClient;
let dispatch: AgentDispatchClient;
const workers: RawWorker[] = [];
const clients: RtcRoom[] = [];

type ServerCase = NonNullable<ServerMessage['message']['case']>;
type ServerValue<C extends ServerCase> = Extract<ServerMessage['message'], { case: C }>['value'];

/** A hand-driven worker. Offers for rooms outside `rooms` (leftovers of other tests) are declined at once. */
class RawWorker {
  readonly ws: WebSocket;
  readonly inbox: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters = new Waiters();
  readonly #rooms: RegExp;

  constructor(ws: WebSocket, rooms: RegExp) {
    this.ws = ws;
    this.#rooms = rooms;
    ws.on('message', (data: Buffer, isBinary) => {
      const msg = isBinary ? ServerMessage.fromBinary(data) : ServerMessage.fromJsonString(data.toString());
      if (msg.message.case === 'availability' && !this.#rooms.test(msg.message.value.job?.room?.name ?? '')) {
        this.answer(msg.message.value, false);
        return;
      }
      this.inbox.push(msg);
      this.#waiters.notify();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.#waiters.notify();
      }),
    );
  }

  static async open(rooms: RegExp, token?: string): Promise<RawWorker> {
    const jwt = token ?? (await agentToken());
    const ws = new WebSocket(`${server.url}/agent`, { headers: { authorization: `Bearer ${jwt}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const w = new RawWorker(ws, rooms);
    workers.push(w);
    return w;
  }

  /** Registers and resolves with the server's answer (which must be its first message). */
  async register(agentName = ''): Promise<RegisterWorkerResponse> {
    this.send({ case: 'register', value: { type: JobType.JT_ROOM, agentName, version: 'raw-test' } });
    await this.#until(() => this.inbox.length > 0, 'a first server message');
    expect(this.inbox[0]?.message.case).toBe('register');
    return this.inbox.shift()?.message.value as RegisterWorkerResponse;
  }

  send(message: PartialMessage<WorkerMessage>['message']): void {
    this.ws.send(new WorkerMessage({ message }).toBinary());
  }

  /** Reports load/status, then waits for a pong so the server has certainly applied it. */
  async report(load: number, status = WorkerStatus.WS_AVAILABLE): Promise<void> {
    this.send({ case: 'updateWorker', value: { load, status } });
    await this.ping(BigInt(Date.now()));
  }

  async ping(timestamp: bigint): Promise<bigint> {
    this.send({ case: 'ping', value: { timestamp } });
    const pong = await this.next('pong', (p) => p.lastTimestamp === timestamp);
    return pong.lastTimestamp;
  }

  answer(req: AvailabilityRequest, available: boolean, identity = ''): void {
    this.send({
      case: 'availability',
      value: {
        jobId: req.job?.id ?? '',
        available,
        participantIdentity: identity,
        participantName: available ? 'Raw Agent' : '',
        participantAttributes: available ? { 'lk.agent.name': req.job?.agentName ?? '' } : {},
      },
    });
  }

  /** Takes the first message of this case (matching `pred`) from the inbox, waiting for it. */
  async next<C extends ServerCase>(
    c: C,
    pred: (v: ServerValue<C>) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<ServerValue<C>> {
    let found: unknown;
    await this.#until(
      () => {
        const i = this.inbox.findIndex(
          (m) => m.message.case === c && pred(m.message.value as ServerValue<C>),
        );
        if (i < 0) return false;
        found = this.inbox.splice(i, 1)[0]?.message.value;
        return true;
      },
      `${c} message`,
      timeoutMs,
    );
    return found as ServerValue<C>;
  }

  /** An offer for `room`, answered; resolves with the assignment when accepted. */
  async take(
    room: string,
    identity = '',
  ): Promise<{ offer: AvailabilityRequest; assignment: JobAssignment }> {
    const offer = await this.next('availability', (a) => a.job?.room?.name === room);
    this.answer(offer, true, identity);
    const assignment = await this.next('assignment', (a) => a.job?.id === offer.job?.id);
    return { offer, assignment };
  }

  offersFor(room: string): number {
    return this.inbox.filter(
      (m) => m.message.case === 'availability' && m.message.value.job?.room?.name === room,
    ).length;
  }

  async #until(f: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    await this.#waiters.until(() => f() || undefined, {
      what,
      timeoutMs,
      failure: () => (this.ws.readyState === WebSocket.CLOSED ? 'worker socket closed' : undefined),
    });
  }
}

async function agentToken(
  grant: { agent?: boolean } = { agent: true },
  secret = server.apiSecret,
): Promise<string> {
  const at = new AccessToken(server.apiKey, secret);
  at.addGrant(grant);
  return at.toJwt();
}

/** The HTTP status a refused `/agent` upgrade answers with. */
function upgradeStatus(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url}/agent`, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      ws.close();
      reject(new Error('upgrade was accepted'));
    });
    ws.once('error', () => {});
  });
}

async function jobsOf(room: string) {
  return (await dispatch.listDispatch(room)).flatMap((d) => d.state?.jobs ?? []);
}

/** A backend's webhook endpoint the server reports to. */
let hooks: WebhookEndpoint;

beforeAll(async () => {
  hooks = await webhookEndpoint();
  server = await startLiveKitDevServer({ port: 0, host: '127.0.0.1', webhook: { urls: [hooks.url] } });
  rooms = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
  dispatch = new AgentDispatchClient(server.url, server.apiKey, server.apiSecret);
});

afterEach(async () => {
  for (const w of workers.splice(0)) w.ws.terminate();
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => {})));
});

afterAll(async () => {
  await server?.close();
  await hooks?.close();
  await dispose();
});

describe('connection and registration', () => {
  test('workers without valid credentials or the agent grant are refused', async () => {
    expect(await upgradeStatus({})).toBe(401);
    expect(
      await upgradeStatus({
        authorization: `Bearer ${await agentToken({ agent: true }, 'wrong-secret-0123456789abcdefghijk')}`,
      }),
    ).toBe(401);
    expect(await upgradeStatus({ authorization: `Bearer ${await agentToken({})}` })).toBe(403);
    // A key name every object has, signed with the text of what a plain object holds under it.
    const forged = new AccessToken('constructor', String(Object));
    forged.addGrant({ agent: true });
    expect(await upgradeStatus({ authorization: `Bearer ${await forged.toJwt()}` })).toBe(401);
    const ok = await RawWorker.open(/^wk-auth$/);
    expect((await ok.register()).workerId).toMatch(/^AW_/);
  });

  test('the first server message answers the registration; ping gets pong', async () => {
    const w = await RawWorker.open(/^wk-reg$/);
    const reg = await w.register('wk-reg-agent');
    expect(reg.workerId).toMatch(/^AW_/);
    // The same release clients are told on join, not a second version string.
    expect(reg.serverInfo?.version).toBe(SERVER_VERSION);
    expect(await w.ping(123456789n)).toBe(123456789n);
  });

  test('protobuf JSON in text frames is answered in JSON', async () => {
    const ws = new WebSocket(`${server.url}/agent`, {
      headers: { authorization: `Bearer ${await agentToken()}` },
    });
    await new Promise((resolve) => ws.once('open', resolve));
    const answer = new Promise<{ data: string; isBinary: boolean }>((resolve) =>
      ws.once('message', (data: Buffer, isBinary) => resolve({ data: data.toString(), isBinary })),
    );
    ws.send(
      new WorkerMessage({ message: { case: 'register', value: { agentName: 'json-agent' } } }).toJsonString(),
    );
    const { data, isBinary } = await answer;
    expect(isBinary).toBe(false);
    const msg = ServerMessage.fromJsonString(data);
    expect(msg.message.case).toBe('register');
    ws.terminate();
  });

  test('a malformed frame closes only that worker', async () => {
    const bad = await RawWorker.open(/^wk-bad$/);
    const good = await RawWorker.open(/^wk-after-bad$/);
    await bad.register();
    await good.register();
    bad.ws.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect((await bad.closed).code).toBe(1007);
    await rooms.createRoom({ name: 'wk-after-bad' });
    const { assignment } = await good.take('wk-after-bad');
    expect(assignment.token).toBeTruthy();
  });
});

describe('dispatch', () => {
  test('automatic dispatch: availability, then an assignment with an agent token; the agent leaving ends the job (JS_FAILED, as livekit-server)', async () => {
    const named = await RawWorker.open(/^wk-auto$/);
    await named.register('someone-else');
    const w = await RawWorker.open(/^wk-auto$/);
    const { workerId } = await w.register();

    await rooms.createRoom({ name: 'wk-auto' });
    const offer = await w.next('availability', (a) => a.job?.room?.name === 'wk-auto');
    expect(offer.job?.type).toBe(JobType.JT_ROOM);
    expect(offer.job?.agentName).toBe('');
    expect(offer.job?.id).toMatch(/^AJ_/);
    expect(offer.job?.room?.sid).toMatch(/^RM_/);
    w.answer(offer, true, 'agent-raw');
    const assignment = await w.next('assignment');
    expect(assignment.job?.id).toBe(offer.job?.id);

    const claims = await new TokenVerifier(server.apiKey, server.apiSecret).verify(assignment.token);
    expect(claims.sub).toBe('agent-raw');
    expect(claims.name).toBe('Raw Agent');
    expect(claims.kind).toBe('agent');
    // The worker's attributes, and the agent name livekit-server adds (`lk.agent_name`).
    expect(claims.attributes).toEqual({ 'lk.agent.name': '', 'lk.agent_name': '' });
    expect(claims.video).toMatchObject({ roomJoin: true, room: 'wk-auto', agent: true });

    const [job] = await jobsOf('wk-auto');
    expect(job?.state).toMatchObject({
      status: JobStatus.JS_RUNNING,
      workerId,
      participantIdentity: 'agent-raw',
    });

    // The agent joins with the job token; it leaving is the end of the job. livekit-server's
    // TerminateJob(AGENT_LEFT_ROOM) records the job as failed: agents-js never reports a status of its
    // own, so even a clean end reads "agent worker left the room".
    const agent = new Room();
    clients.push(agent);
    await agent.connect(server.url, assignment.token, { autoSubscribe: false, dynacast: false });
    const joined = await rooms.getParticipant('wk-auto', 'agent-raw');
    expect(joined.kind).toBe(4); // ParticipantInfo_Kind.AGENT
    await agent.disconnect();
    const ended = await waitFor(async () => {
      const [j] = await jobsOf('wk-auto');
      return j?.state?.status !== JobStatus.JS_RUNNING && j;
    }, 'job end');
    expect(ended.state?.status).toBe(JobStatus.JS_FAILED);
    expect(ended.state?.error).toBe('agent worker left the room');

    // A worker registered for a name never receives automatic dispatches.
    expect(named.offersFor('wk-auto')).toBe(0);
  });

  test('explicit dispatch through a token goes to the worker with that agent name', async () => {
    const unnamed = await RawWorker.open(/^wk-token$/);
    await unnamed.register();
    const helper = await RawWorker.open(/^wk-token$/);
    await helper.register('wk-helper');
    clients.push(
      await connectParticipant(server, 'wk-token', 'alice', [{ agentName: 'wk-helper', metadata: 'hi' }]),
    );
    const { offer } = await helper.take('wk-token');
    expect(offer.job?.agentName).toBe('wk-helper');
    expect(offer.job?.metadata).toBe('hi');
    // The token's dispatch replaces the automatic one.
    expect((await dispatch.listDispatch('wk-token')).map((d) => d.agentName)).toEqual(['wk-helper']);
    expect(unnamed.offersFor('wk-token')).toBe(0);
  });

  test('the least-loaded AVAILABLE worker gets the job; FULL workers are skipped', async () => {
    const busy = await RawWorker.open(/^wk-load$/);
    const light = await RawWorker.open(/^wk-load$/);
    const full = await RawWorker.open(/^wk-load$/);
    await busy.register();
    const { workerId: lightId } = await light.register();
    await full.register();
    await busy.report(0.6);
    await light.report(0.2);
    await full.report(0, WorkerStatus.WS_FULL);
    await rooms.createRoom({ name: 'wk-load' });
    await light.take('wk-load');
    expect((await jobsOf('wk-load'))[0]?.state?.workerId).toBe(lightId);
    expect(busy.offersFor('wk-load') + full.offersFor('wk-load')).toBe(0);
  });

  test('jobs given out between load reports count: equal workers share a burst of rooms', async () => {
    const a = await RawWorker.open(/^wk-burst-/);
    const b = await RawWorker.open(/^wk-burst-/);
    await a.register();
    await b.register();
    const names = ['wk-burst-1', 'wk-burst-2', 'wk-burst-3', 'wk-burst-4'];
    await Promise.all(names.map((name) => rooms.createRoom({ name })));
    const accept = async (w: RawWorker, got: string[]) => {
      for (;;) {
        const offer = await w.next('availability', () => true, 60_000).catch(() => undefined);
        if (!offer) return;
        w.answer(offer, true);
        got.push(offer.job?.room?.name ?? '');
        if (got.length === 2) return;
      }
    };
    const gotA: string[] = [];
    const gotB: string[] = [];
    await Promise.all([accept(a, gotA), accept(b, gotB)]);
    expect([...gotA, ...gotB].sort()).toEqual(names);
    expect(gotA.length).toBe(2);
    expect(gotB.length).toBe(2);
  });

  test('a declined or unanswered offer goes to the next worker', { timeout: 90_000 }, async () => {
    const decliner = await RawWorker.open(/^wk-retry$/);
    const silent = await RawWorker.open(/^wk-retry$/);
    const taker = await RawWorker.open(/^wk-retry$/);
    await decliner.register();
    await silent.register();
    const { workerId } = await taker.register();
    // Equal loads: offers follow registration order.
    await rooms.createRoom({ name: 'wk-retry' });
    const first = await decliner.next('availability', (a) => a.job?.room?.name === 'wk-retry');
    decliner.answer(first, false);
    await silent.next('availability', (a) => a.job?.id === first.job?.id);
    // No answer: after the server's availability timeout the job moves on.
    const { offer } = await taker.take('wk-retry');
    expect(offer.job?.id).toBe(first.job?.id);
    expect((await jobsOf('wk-retry'))[0]?.state?.workerId).toBe(workerId);
  });

  test('jobs wait for a worker: one that registers later gets them', async () => {
    await rooms.createRoom({ name: 'wk-late' });
    expect((await jobsOf('wk-late'))[0]?.state?.status).toBe(JobStatus.JS_PENDING);
    const w = await RawWorker.open(/^wk-late$/);
    await w.register();
    await w.take('wk-late');
    expect((await jobsOf('wk-late'))[0]?.state?.status).toBe(JobStatus.JS_RUNNING);
  });

  test('a worker lost mid-job: like livekit-server, nothing is re-dispatched, the job stays JS_RUNNING and its agent stays until its own connection goes', async () => {
    const first = await RawWorker.open(/^wk-lost$/);
    await first.register();
    await rooms.createRoom({ name: 'wk-lost' });
    const { assignment } = await first.take('wk-lost');
    const agent = new Room();
    clients.push(agent);
    await agent.connect(server.url, assignment.token, { autoSubscribe: false, dynacast: false });
    const identity = agent.localParticipant?.identity ?? '';

    const second = await RawWorker.open(/^wk-lost$/);
    await second.register();
    first.ws.terminate();
    await first.closed;
    // A round trip on the second worker's socket: the server has handled the close by now.
    await second.ping(3n);
    expect(second.offersFor('wk-lost')).toBe(0);
    const jobs = await jobsOf('wk-lost');
    expect(jobs.map((j) => j.state?.status)).toEqual([JobStatus.JS_RUNNING]);
    expect((await rooms.listParticipants('wk-lost')).map((p) => p.identity)).toContain(identity);
    // The agent leaving finds no worker to terminate: the job keeps its last state.
    await agent.disconnect();
    await waitFor(
      async () => !(await rooms.listParticipants('wk-lost')).some((p) => p.identity === identity),
      'agent gone',
    );
    expect((await jobsOf('wk-lost')).map((j) => j.state?.status)).toEqual([JobStatus.JS_RUNNING]);
    expect(second.offersFor('wk-lost')).toBe(0);
  });

  test('a room left with only its agent closes on the departure timeout (agents do not keep a room open)', async () => {
    await rooms.createRoom({ name: 'wk-depart', departureTimeout: 1 });
    const w = await RawWorker.open(/^wk-depart$/);
    await w.register();
    const { assignment } = await w.take('wk-depart');
    const human = await connectParticipant(server, 'wk-depart', 'dora', []);
    const agent = new Room();
    clients.push(agent);
    await agent.connect(server.url, assignment.token, { autoSubscribe: false, dynacast: false });
    const closed = new Promise<void>((resolve) => agent.once(RoomEvent.Disconnected, () => resolve()));
    await human.disconnect();
    await closed;
    await waitFor(
      async () => !(await rooms.listRooms()).some((r) => r.name === 'wk-depart'),
      'room closed with its agent in it',
    );
  });

  test('DeleteDispatch and DeleteRoom terminate running jobs', async () => {
    const w = await RawWorker.open(/^wk-term$/);
    await w.register('wk-term-agent');
    const d = await dispatch.createDispatch('wk-term', 'wk-term-agent');
    const { assignment } = await w.take('wk-term');
    await dispatch.deleteDispatch(d.id, 'wk-term');
    const t1 = await w.next('termination');
    expect(t1.jobId).toBe(assignment.job?.id);

    await dispatch.createDispatch('wk-term', 'wk-term-agent');
    const second = await w.take('wk-term');
    await rooms.deleteRoom('wk-term');
    const t2 = await w.next('termination');
    expect(t2.jobId).toBe(second.assignment.job?.id);
  });

  test('a job is reported as agent_job_started and agent_job_ended webhooks', async () => {
    const w = await RawWorker.open(/^wk-hooks$/);
    await w.register('wk-hooks-agent');
    await dispatch.createDispatch('wk-hooks', 'wk-hooks-agent');
    const { assignment } = await w.take('wk-hooks', 'agent-hooks');
    await rooms.deleteRoom('wk-hooks');
    const receiver = new WebhookReceiver(server.apiKey, server.apiSecret);
    const jobEvents = await waitFor(async () => {
      const all = await Promise.all(hooks.got.map((h) => receiver.receive(h.body, h.authorization)));
      const mine = all.filter((e) => e.room?.name === 'wk-hooks' && e.event.startsWith('agent_job'));
      return mine.length >= 2 && mine;
    }, 'agent job webhooks');
    expect(jobEvents.map((e) => e.event)).toEqual(['agent_job_started', 'agent_job_ended']);
    const [started, ended] = jobEvents;
    expect(started?.job?.id).toBe(assignment.job?.id);
    expect(started?.job?.agentName).toBe('wk-hooks-agent');
    expect(started?.job?.state).toMatchObject({
      status: JobStatus.JS_RUNNING,
      participantIdentity: 'agent-hooks',
    });
    expect(ended?.job?.id).toBe(assignment.job?.id);
    expect(ended?.job?.state?.status).toBe(JobStatus.JS_SUCCESS);
    expect(Number(ended?.job?.state?.endedAt)).toBeGreaterThan(0);
  });

  test('a queued job goes to a FULL worker as soon as it reports AVAILABLE again', async () => {
    const w = await RawWorker.open(/^wk-full$/);
    await w.register();
    await w.report(1, WorkerStatus.WS_FULL);
    await rooms.createRoom({ name: 'wk-full' });
    await w.ping(7n);
    expect(w.offersFor('wk-full')).toBe(0);
    expect((await jobsOf('wk-full'))[0]?.state?.status).toBe(JobStatus.JS_PENDING);
    await w.report(0.1, WorkerStatus.WS_AVAILABLE);
    await w.take('wk-full');
  });

  test('migrateJob is ignored, as livekit-server ignores it (Worker.HandleMigrateJob is not implemented on OSS)', async () => {
    const from = await RawWorker.open(/^wk-migrate$/);
    await from.register();
    await rooms.createRoom({ name: 'wk-migrate' });
    const { offer } = await from.take('wk-migrate');
    const to = await RawWorker.open(/^wk-migrate$/);
    await to.register();
    from.send({ case: 'migrateJob', value: { jobIds: [offer.job?.id ?? ''] } });
    // Round trips on both sockets: the server has read the request by now.
    await from.ping(5n);
    await to.ping(6n);
    expect(to.offersFor('wk-migrate')).toBe(0);
    expect((await jobsOf('wk-migrate')).map((j) => j.state?.status)).toEqual([JobStatus.JS_RUNNING]);
  });

  test('simulateJob (agents `connect --room`) starts the room with a job for the asking worker only', async () => {
    const older = await RawWorker.open(/^wk-sim$/);
    await older.register();
    const asking = await RawWorker.open(/^wk-sim$/);
    await asking.register();
    asking.send({ case: 'simulateJob', value: { type: JobType.JT_ROOM, room: { name: 'wk-sim' } } });
    await asking.take('wk-sim');
    expect((await rooms.listRooms(['wk-sim'])).length).toBe(1);
    expect((await dispatch.listDispatch('wk-sim')).length).toBe(1);
    expect(older.offersFor('wk-sim')).toBe(0);
  });

  test('a job status reported by the worker is kept', async () => {
    const w = await RawWorker.open(/^wk-status$/);
    await w.register();
    await rooms.createRoom({ name: 'wk-status' });
    const { offer } = await w.take('wk-status');
    w.send({
      case: 'updateJob',
      value: { jobId: offer.job?.id ?? '', status: JobStatus.JS_FAILED, error: 'boom' },
    });
    await w.ping(1n);
    const [job] = await jobsOf('wk-status');
    expect(job?.state).toMatchObject({ status: JobStatus.JS_FAILED, error: 'boom' });
  });
});
