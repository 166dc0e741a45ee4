/**
 * Real `@livekit/agents` 1.9 workers (test/fixtures/agents/trivial-agent.ts, each in a child process)
 * against the LiveKit dev server: automatic dispatch into a new room, explicit dispatch by token and
 * by AgentDispatchService, rooms shared by load, and a SIGKILLed worker's room left without an agent
 * (as livekit-server leaves it).
 * Agents are observed the way users see them: as participants (rtc-node, ListParticipants).
 */
import { JobStatus, ParticipantInfo_Kind } from '@livekit/protocol';
import { dispose, RoomEvent, type Room as RtcRoom } from '@livekit/rtc-node';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import {
  agentsSeenBy,
  connectParticipant,
  freePort,
  WorkerProcess,
  type WorkerProcessOptions,
  waitFor,
} from './livekit-control-helpers.ts';

// Workers fork job processes; on a shared 2-core machine each step can take many seconds.
const SLOW = 90_000;

let server: LiveKitDevServer;
let rooms: RoomServiceClient;
let dispatch: AgentDispatchClient;
const workers: WorkerProcess[] = [];
const clients: RtcRoom[] = [];

async function startWorker(o: Omit<WorkerProcessOptions, 'url' | 'apiKey' | 'apiSecret' | 'healthPort'>) {
  const w = new WorkerProcess({
    ...o,
    url: server.url,
    apiKey: server.apiKey,
    apiSecret: server.apiSecret,
    healthPort: await freePort(),
  });
  workers.push(w);
  await w.registered(SLOW);
  return w;
}

async function join(room: string, identity: string, agents: { agentName: string; metadata?: string }[] = []) {
  const c = await connectParticipant(server, room, identity, agents);
  clients.push(c);
  return c;
}

/** Agent participants of a room as the server lists them, with the worker tag their agent set. */
async function agentsIn(room: string) {
  return (await rooms.listParticipants(room))
    .filter((p) => p.kind === ParticipantInfo_Kind.AGENT && p.attributes['test.worker'])
    .map((p) => ({
      identity: p.identity,
      worker: p.attributes['test.worker'] ?? '',
      metadata: p.attributes['test.metadata'],
    }));
}

async function closeRoom(room: string) {
  await rooms.deleteRoom(room).catch(() => {});
}

beforeAll(async () => {
  server = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  rooms = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
  dispatch = new AgentDispatchClient(server.url, server.apiKey, server.apiSecret);
}, SLOW);

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => {})));
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await server?.close();
  await dispose();
}, SLOW);

describe('dispatch with real agent workers', { timeout: 4 * SLOW }, () => {
  let unnamed: WorkerProcess;
  let named: WorkerProcess;

  test('an unnamed worker is dispatched into a new room and its agent joins', async () => {
    [unnamed, named] = await Promise.all([
      startWorker({ tag: 'A' }),
      startWorker({ tag: 'N', agentName: 'ag-named' }),
    ]);
    const alice = await join('ag-auto', 'alice');
    const seen = await waitFor(() => agentsSeenBy(alice)[0], 'the agent as seen by alice', SLOW);
    expect(seen.worker).toBe('A');

    const listed = await agentsIn('ag-auto');
    expect(listed.map((a) => a.worker)).toEqual(['A']);
    const [d] = await dispatch.listDispatch('ag-auto');
    expect(d?.agentName).toBe('');
    expect(d?.state?.jobs[0]?.state).toMatchObject({
      status: JobStatus.JS_RUNNING,
      workerId: unnamed.workerId,
      participantIdentity: seen.identity,
    });
    await closeRoom('ag-auto');
  });

  test('explicit dispatch through the join token reaches the named worker only', async () => {
    const alice = await join('ag-token', 'alice', [{ agentName: 'ag-named', metadata: 'from-token' }]);
    const seen = await waitFor(
      () => agentsSeenBy(alice).find((a) => a.metadata === 'from-token'),
      'named agent',
      SLOW,
    );
    expect(seen.worker).toBe('N');
    // The token's dispatch replaced the automatic one: worker A is not in this room.
    expect((await dispatch.listDispatch('ag-token')).map((d) => d.agentName)).toEqual(['ag-named']);
    expect((await agentsIn('ag-token')).map((a) => a.worker)).toEqual(['N']);
    await closeRoom('ag-token');
  });

  test('CreateDispatch adds the named agent to a live room; DeleteDispatch takes it away', async () => {
    const alice = await join('ag-api', 'alice');
    await waitFor(() => agentsSeenBy(alice).find((a) => a.worker === 'A'), 'automatic agent', SLOW);
    const created = await dispatch.createDispatch('ag-api', 'ag-named', { metadata: 'from-api' });
    const seen = await waitFor(() => agentsSeenBy(alice).find((a) => a.worker === 'N'), 'named agent', SLOW);
    expect(seen.metadata).toBe('from-api');
    expect((await agentsIn('ag-api')).map((a) => a.worker).sort()).toEqual(['A', 'N']);

    const left = new Promise<string>((resolve) =>
      alice.on(RoomEvent.ParticipantDisconnected, (p) => {
        if (p.identity === seen.identity) resolve(p.identity);
      }),
    );
    await dispatch.deleteDispatch(created.id, 'ag-api');
    await left;
    expect((await agentsIn('ag-api')).map((a) => a.worker)).toEqual(['A']);
    await closeRoom('ag-api');
  });

  test('two workers share new rooms by load', async () => {
    // A fresh pair, so that earlier jobs do not weigh on the comparison.
    await Promise.all([unnamed.stop(), named.stop()]);
    await Promise.all([startWorker({ tag: 'B' }), startWorker({ tag: 'C' })]);
    const names = ['ag-share-1', 'ag-share-2', 'ag-share-3', 'ag-share-4'];
    for (const name of names) await rooms.createRoom({ name });
    const byRoom = await waitFor(
      async () => {
        const found = await Promise.all(names.map(async (n) => (await agentsIn(n))[0]?.worker));
        return found.every((w) => w !== undefined) ? found : undefined;
      },
      'an agent in each room',
      SLOW,
      250,
    );
    expect(byRoom.filter((w) => w === 'B').length).toBe(2);
    expect(byRoom.filter((w) => w === 'C').length).toBe(2);
    // One agent per room: nothing was dispatched twice.
    for (const n of names) expect((await agentsIn(n)).length).toBe(1);
    await Promise.all(names.map(closeRoom));
  });

  test("a SIGKILLed worker's room gets no new agent, as on livekit-server: its agent goes when its connection times out, its job stays JS_RUNNING", async () => {
    const alice = await join('ag-kill', 'alice');
    const first = await waitFor(() => agentsSeenBy(alice)[0], 'first agent', SLOW);
    const victim = workers.find((w) => w.tag === first.worker && w.running);
    expect(victim).toBeDefined();

    victim?.kill();
    // The server drops the dead agent after the resume grace; nothing is dispatched in its place
    // (livekit-server's deregisterWorker; bringing an agent back is the workers' job: docs/recovery.md).
    await waitFor(async () => (await agentsIn('ag-kill')).length === 0, 'the dead agent gone', SLOW);
    await waitFor(() => agentsSeenBy(alice).length === 0, 'alice sees it go', SLOW);
    const jobs = (await dispatch.listDispatch('ag-kill'))[0]?.state?.jobs ?? [];
    expect(jobs.map((j) => j.state?.status)).toEqual([JobStatus.JS_RUNNING]);
    expect(jobs[0]?.state?.participantIdentity).toBe(first.identity);
    await closeRoom('ag-kill');
  });
});
