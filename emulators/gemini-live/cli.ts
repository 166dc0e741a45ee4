/**
 * `npm run emulator:gemini -- [flags]`: runs the Gemini Live emulator until SIGINT/SIGTERM and prints
 * its base URL alone on one line (then a hint on stderr). Flags:
 *
 *   --port N                 TCP port (0 = any free port; default 0)
 *   --host H                 interface (default 127.0.0.1)
 *   --api-key K              accept only this API key (default: any key)
 *   --model NAME             accept one more model name (repeatable)
 *   --pacing realtime|N|max  model audio pacing: real time, N× real time, or as fast as possible
 *   --response-delay-ms N    delay before each answer
 *   --chunk-ms N             model audio chunk length (default 40)
 *   --scenario FILE          JSON scenario (see scenario.ts)
 *   --binary-frames          send server frames as binary UTF-8 JSON
 *   --turn-complete-after-playback  hold turnComplete until the audio has played out at real time
 *   --connection-lifetime-ms, --go-away-notice-ms, --audio-session-limit-ms, --video-session-limit-ms,
 *   --resumption-handle-ttl-ms, --max-payload-bytes   limits (defaults: Google's documented values)
 *   --service-account FILE   mint a Vertex AI service account and write its key file (mode 0600) to FILE:
 *                            its token_uri is this emulator (GOOGLE_APPLICATION_CREDENTIALS=FILE)
 *   --project ID             project of that service account (default emulator-project)
 *   --verbose                log sessions to stderr
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { start } from './index.ts';
import type { EmulatorLimits, Pacing } from './options.ts';
import { loadScenario } from './scenario.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'api-key': { type: 'string' },
    model: { type: 'string', multiple: true },
    pacing: { type: 'string', default: 'realtime' },
    'response-delay-ms': { type: 'string' },
    'chunk-ms': { type: 'string' },
    scenario: { type: 'string' },
    'binary-frames': { type: 'boolean', default: false },
    'turn-complete-after-playback': { type: 'boolean', default: false },
    'connection-lifetime-ms': { type: 'string' },
    'go-away-notice-ms': { type: 'string' },
    'audio-session-limit-ms': { type: 'string' },
    'video-session-limit-ms': { type: 'string' },
    'resumption-handle-ttl-ms': { type: 'string' },
    'max-payload-bytes': { type: 'string' },
    'service-account': { type: 'string' },
    project: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
  strict: true,
});

function num(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (Number.isNaN(n) || n < 0) {
    process.stderr.write(`--${name}: expected a non-negative number, got "${value}"\n`);
    process.exit(2);
  }
  return n;
}

const pacing: Pacing =
  values.pacing === 'realtime'
    ? 'realtime'
    : values.pacing === 'max'
      ? Number.POSITIVE_INFINITY
      : (num('pacing', values.pacing) ?? 1);
const limits: Partial<EmulatorLimits> = {};
const limitFlags = {
  'connection-lifetime-ms': 'connectionLifetimeMs',
  'go-away-notice-ms': 'goAwayNoticeMs',
  'audio-session-limit-ms': 'audioSessionLimitMs',
  'video-session-limit-ms': 'videoSessionLimitMs',
  'resumption-handle-ttl-ms': 'resumptionHandleTtlMs',
  'max-payload-bytes': 'maxPayloadBytes',
} as const;
for (const [flag, key] of Object.entries(limitFlags)) {
  const v = num(flag, values[flag as keyof typeof limitFlags]);
  if (v !== undefined) limits[key] = v;
}

const emulator = await start({
  port: num('port', values.port),
  host: values.host,
  apiKey: values['api-key'],
  models: values.model,
  pacing,
  responseDelayMs: num('response-delay-ms', values['response-delay-ms']),
  chunkMs: num('chunk-ms', values['chunk-ms']),
  scenario: values.scenario ? loadScenario(values.scenario) : undefined,
  binaryFrames: values['binary-frames'],
  turnCompleteAfterPlayback: values['turn-complete-after-playback'],
  limits,
  log: values.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
});
const keyFile = values['service-account'];
if (keyFile) {
  const key = emulator.vertex.serviceAccount({ ...(values.project && { project: values.project }) });
  writeFileSync(keyFile, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600 });
}
process.stdout.write(`${emulator.url}\n`);
process.stderr.write(
  `Gemini Live emulator: httpOptions.baseUrl = ${emulator.url} (GOOGLE_GEMINI_BASE_URL${keyFile ? `; Vertex AI: GOOGLE_VERTEX_BASE_URL, GOOGLE_APPLICATION_CREDENTIALS=${keyFile}` : ''})\n`,
);
if (values.verbose) {
  emulator.on('session', (s) =>
    s.once('ready', () => process.stderr.write(`session ${s.id} ready (${s.stats.model})\n`)),
  );
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await emulator.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
