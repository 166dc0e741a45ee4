/**
 * What a process per room costs: the media half of an agent (rtc-node in, rtc-node out, no model) for
 * N rooms, once as N processes with one room each (how `@livekit/agents` runs jobs, ours and the
 * reference alike) and once as one process holding all N rooms. Prints CPU (% of one core) and RSS per
 * session for both and the share a shared process would save. Not a test: it prints numbers.
 *
 *   node bench/process-per-room.ts [--levels 4,8] [--seconds 20] [--rounds 2]
 *
 * The users (one per room, speaking without pause) run in this process and the dev server in its own;
 * only the agent-side processes are measured.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import {
  AudioFrame,
  AudioSource,
  LocalAudioTrack,
  Room,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { chunk, speechLike } from '../shared/audio/generate.ts';
import { Child, type LiveKitEndpoint, startDevServer } from './lib/children.ts';
import { cpuBetween, sampleTree } from './lib/proc.ts';
import { summarize } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: '4,8' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
  },
});
const levels = values.levels.split(',').map(Number);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One user per room, speaking continuously (48 kHz, like a browser microphone). */
async function startUser(lk: LiveKitEndpoint, roomName: string): Promise<() => Promise<void>> {
  const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity: 'user', ttl: '1h' });
  token.addGrant({ roomJoin: true, room: roomName });
  const room = new Room();
  await room.connect(lk.url, await token.toJwt(), { autoSubscribe: false, dynacast: false });
  const source = new AudioSource(48_000, 1);
  await room.localParticipant!.publishTrack(
    LocalAudioTrack.createAudioTrack('microphone', source),
    new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
  );
  const frames = chunk(speechLike(2, 48_000, { seed: 11 }), 48_000, 10);
  let running = true;
  (async () => {
    for (let i = 0; running; i = (i + 1) % frames.length) {
      const f = frames[i]!;
      await source.captureFrame(new AudioFrame(f.slice(), 48_000, 1, f.length));
    }
  })().catch(() => {});
  return async () => {
    running = false;
    await room.disconnect().catch(() => {});
  };
}

interface Measure {
  cpuPctPerSession: number;
  rssMiBPerSession: number;
}

async function measure(lk: LiveKitEndpoint, n: number, shared: boolean, tag: string): Promise<Measure> {
  const rooms = Array.from({ length: n }, (_, i) => `ppr-${tag}-${i}`);
  const users = await Promise.all(rooms.map((r) => startUser(lk, r)));
  const groups = shared ? [rooms] : rooms.map((r) => [r]);
  const agents = groups.map(
    (g, i) =>
      new Child(
        `agent-${i}`,
        ['bench/lib/room-media-child.ts', lk.url, lk.apiKey, lk.apiSecret, g.join(',')],
        {
          ...process.env,
        },
      ),
  );
  try {
    await Promise.all(agents.map((a) => a.waitFor(/^ready$/m, 60_000, 'its rooms')));
    await sleep(3000); // settle: subscriptions, first bursts
    const before = agents.map((a) => sampleTree(a.pid));
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const after = agents.map((a) => sampleTree(a.pid));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = after.reduce((s, b, i) => s + cpuBetween(before[i]!, b), 0);
    const rss = after.reduce((s, b) => s + b.rssMiB, 0);
    return { cpuPctPerSession: (cpu / elapsed / n) * 100, rssMiBPerSession: rss / n };
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(users.map((stop) => stop()));
  }
}

/** Median of the rounds, one decimal. */
const median = (xs: number[]) => summarize(xs).p50!;

const { child: server, endpoint } = await startDevServer();
console.log(
  `# ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${seconds} s windows, ${rounds} round(s) per figure`,
);
try {
  let k = 0;
  for (const n of levels) {
    const perRoom: Measure[] = [];
    const oneProc: Measure[] = [];
    for (let r = 0; r < rounds; r++) {
      perRoom.push(await measure(endpoint, n, false, String(k++)));
      oneProc.push(await measure(endpoint, n, true, String(k++)));
    }
    const a = median(perRoom.map((m) => m.cpuPctPerSession));
    const b = median(oneProc.map((m) => m.cpuPctPerSession));
    console.log(
      JSON.stringify({
        sessions: n,
        processPerRoom: {
          cpuPctPerSession: a,
          rssMiBPerSession: median(perRoom.map((m) => m.rssMiBPerSession)),
        },
        oneProcess: {
          cpuPctPerSession: b,
          rssMiBPerSession: median(oneProc.map((m) => m.rssMiBPerSession)),
        },
        cpuSaved: `${Math.round((1 - b / a) * 100)} %`,
      }),
    );
  }
} finally {
  await server.stop();
}
