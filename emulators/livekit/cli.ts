import { parseArgs } from 'node:util';
import { startLiveKitDevServer } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    config: { type: 'string' },
    'api-key': { type: 'string' },
    'api-secret': { type: 'string' },
    webhook: { type: 'string', multiple: true },
  },
});

const apiKey = values['api-key'] ?? process.env.LIVEKIT_API_KEY;
const apiSecret = values['api-secret'] ?? process.env.LIVEKIT_API_SECRET;
const server = await startLiveKitDevServer({
  port: values.port !== undefined ? Number(values.port) : undefined,
  host: values.host,
  configPath: values.config,
  keys: apiKey && apiSecret ? { [apiKey]: apiSecret } : undefined,
  logLevel: 'info',
  ...(values.webhook?.length ? { webhook: { urls: values.webhook } } : {}),
});
// Alone on its line: scripts and the stack read the URL from here.
process.stdout.write(`${server.url}\n`);

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    server.close().finally(() => process.exit(0));
  });
}
