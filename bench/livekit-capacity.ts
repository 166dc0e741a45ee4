/**
 * How many concurrent audio participants the LiveKit dev server forwards on this machine without
 * losing packets. Not a test: it prints numbers.
 *
 *   node bench/livekit-capacity.ts [--levels 2,4,8,16,24,32] [--seconds 5] [--room-size 2]
 *
 * The server runs in its own process (`emulators/livekit/cli.ts`) so its CPU is measured apart from the
 * bench's rtc-node participants. Participants are grouped in rooms of `--room-size` (2 = a human and an
 * agent); each publishes a 48 kHz Opus tone and subscribes to the others. For every level the bench
 * compares, over the measurement window, the RTP packets publishers sent (WebRTC outbound stats) with the
 * packets subscribers received (inbound stats), and samples the server's CPU from /proc.
 * Both sides share this machine's cores, so the figure is for the whole loop, server and clients.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
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

const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: '2,4,8,16,24,32' },
    seconds: { type: 'string', default: '5' },
    'room-size': { type: 'string', default: '2' },
  },
});
const levels = values.levels.split(',').map(Number);
const seconds = Number(values.seconds);
const roomSize = Number(values['room-size']);

const child = spawn(process.execPath, ['emulators/livekit/cli.ts', '--port', '0', '--host', '127.0.0.1'], {
  cwd: new URL('..', import.meta.url).pathname,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, LOG_LEVEL: 'error' },
});
const url = await new Promise<string>((resolve, reject) => {
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (l) => {
    if (l.startsWith('ws://')) resolve(l.trim());
  });
  child.once('exit', (code) => reject(new Error(`dev server exited (${code})`)));
});
const { loadLiveKitConfig } = await import('../shared/livekit-config.ts');
const { apiKey, apiSecret } = loadLiveKitConfig();

/** Server CPU seconds (user+system) from /proc. */
function serverCpuSeconds(): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Member {
  room: Room;
  stop: () => void;
}

async function join(identity: string, roomName: string): Promise<Member> {
  const at = new AccessToken(apiKey, apiSecret, { identity, ttl: '1h' });
  at.addGrant({ roomJoin: true, room: roomName });
  const room = new Room();
  await room.connect(url, await at.toJwt(), { autoSubscribe: true, dynacast: false });
  const source = new AudioSource(48000, 1);
  await room.localParticipant!.publishTrack(
    LocalAudioTrack.createAudioTrack('tone', source),
    new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE, dtx: false }),
  );
  let running = true;
  let phase = 0;
  (async () => {
    while (running) {
      const data = new Int16Array(480);
      for (let i = 0; i < 480; i++) {
        data[i] = Math.round(Math.sin(phase) * 8000);
        phase += (2 * Math.PI * 440) / 48000;
      }
      await source.captureFrame(new AudioFrame(data, 48000, 1, 480));
    }
  })().catch(() => {});
  return {
    room,
    stop: () => {
      running = false;
    },
  };
}

async function counters(members: Member[]): Promise<{ sent: number; received: number; lost: number }> {
  let sent = 0;
  let received = 0;
  let lost = 0;
  for (const m of members) {
    const stats = await m.room.getRtcStats();
    for (const s of stats.publisherStats) {
      if (s.stats.case === 'outboundRtp' && s.stats.value.stream?.kind === 'audio')
        sent += Number(s.stats.value.sent?.packetsSent ?? 0);
    }
    for (const s of stats.subscriberStats) {
      if (s.stats.case === 'inboundRtp' && s.stats.value.stream?.kind === 'audio') {
        received += Number(s.stats.value.received?.packetsReceived ?? 0);
        lost += Number(s.stats.value.received?.packetsLost ?? 0);
      }
    }
  }
  return { sent, received, lost };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rows: Record<string, string | number>[] = [];
let best = 0;

for (const n of levels) {
  const members: Member[] = [];
  try {
    // Joined a few at a time: the rtc-node FFI fails when dozens of rooms connect in the same instant.
    for (let i = 0; i < n; i += 4) {
      const batch: Promise<Member>[] = [];
      for (let j = i; j < Math.min(n, i + 4); j++)
        batch.push(join(`p${j}`, `cap-${n}-${Math.floor(j / roomSize)}`));
      members.push(...(await Promise.all(batch)));
    }
    const expectedTracks = members.map(() => Math.min(roomSize, n) - 1);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const subscribed = members.map((m) =>
        [...m.room.remoteParticipants.values()].reduce(
          (k, p) => k + [...p.trackPublications.values()].filter((t) => t.track).length,
          0,
        ),
      );
      if (subscribed.every((s, i) => s >= expectedTracks[i]!)) break;
      if (Date.now() > deadline) throw new Error('not every subscription was established within 60 s');
      await sleep(200);
    }
    await sleep(2000); // let jitter buffers and congestion control settle
    const before = await counters(members);
    const cpu0 = serverCpuSeconds();
    const t0 = Date.now();
    await sleep(seconds * 1000);
    const after = await counters(members);
    const cpu1 = serverCpuSeconds();
    const elapsed = (Date.now() - t0) / 1000;
    // Each packet a publisher sends is owed to (roomSize - 1) subscribers.
    const fanout = Math.min(roomSize, n) - 1;
    const owed = (after.sent - before.sent) * fanout;
    const got = after.received - before.received;
    const lossPct = owed > 0 ? Math.max(0, (1 - got / owed) * 100) : 100;
    const lostReported = after.lost - before.lost;
    rows.push({
      participants: n,
      rooms: Math.ceil(n / roomSize),
      'pkts forwarded/s': Math.round(got / elapsed),
      'loss %': Number(lossPct.toFixed(2)),
      'receiver-reported lost': lostReported,
      'server CPU %': Math.round(((cpu1 - cpu0) / elapsed) * 100),
      // Other processes on the machine compete for the same cores: the figure is only as good as this.
      'load avg': Number(loadavg()[0]!.toFixed(1)),
    });
    console.table([rows.at(-1)]);
    if (lossPct <= 0.1 && lostReported <= 0) best = n;
    else if (lossPct > 2) break;
  } catch (err) {
    rows.push({ participants: n, error: String(err) });
    console.table([rows.at(-1)]);
    break;
  } finally {
    for (const m of members) m.stop();
    await Promise.all(members.map((m) => m.room.disconnect().catch(() => {})));
    await sleep(1000);
  }
}

console.log(
  '\nLiveKit dev server capacity (audio, Opus 20 ms, rooms of %d, %d CPU cores)',
  roomSize,
  cpus().length,
);
console.table(rows);
console.log(`Highest level with no packet loss: ${best} concurrent audio participants`);
child.kill('SIGTERM');
process.exit(0);
