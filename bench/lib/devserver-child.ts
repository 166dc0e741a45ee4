/**
 * The LiveKit dev server in its own process, so its CPU is measured apart from the workers and the
 * bench's own participants. Prints one JSON line `{url, apiKey, apiSecret}` when listening; exits
 * when stdin closes or on SIGTERM. A line `lag <n>` on stdin is answered with
 * `{"lag":<n>,"p50Ms":…,"p99Ms":…,"maxMs":…}`, its event-loop delay since the previous question.
 */
import { startLiveKitDevServer } from '../../emulators/livekit/index.ts';
import { LoopMonitor } from './lateness.ts';

const server = await startLiveKitDevServer({
  port: 0,
  host: '127.0.0.1',
  logLevel: (process.env.BENCH_DEVSERVER_LOG_LEVEL as 'error' | undefined) ?? 'error',
});
process.stdout.write(
  `${JSON.stringify({ url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret })}\n`,
);
let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  await server.close().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
const loop = new LoopMonitor();
let pending = '';
process.stdin.on('data', (chunk: Buffer) => {
  pending += chunk.toString('utf8');
  for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
    const m = /^lag (\d+)$/.exec(pending.slice(0, nl).trim());
    pending = pending.slice(nl + 1);
    if (!m) continue;
    process.stdout.write(`${JSON.stringify({ lag: Number(m[1]), ...loop.read() })}\n`);
    loop.reset();
  }
});
process.stdin.on('close', stop);
process.stdin.resume();
