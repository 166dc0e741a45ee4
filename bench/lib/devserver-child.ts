/**
 * The LiveKit dev server in its own process, so its CPU is measured apart from the workers and the
 * bench's own participants. Prints one JSON line `{url, apiKey, apiSecret}` when listening; exits
 * when stdin closes or on SIGTERM.
 */
import { startLiveKitDevServer } from '../../emulators/livekit/index.ts';

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
process.stdin.on('close', stop);
process.stdin.resume();
