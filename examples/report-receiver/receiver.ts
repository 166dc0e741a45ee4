/**
 * A backend for the agent's conversation reports (docs/reports.md): an HTTP endpoint that verifies each
 * report with livekit-server-sdk's `WebhookReceiver` (the worker signs it like LiveKit's own webhooks,
 * with the same key pair), stores it as `<REPORTS_DIR>/<id>.json` and prints a summary. README.md here.
 *
 *   node examples/report-receiver/receiver.ts      # http://127.0.0.1:8796/reports
 */
import { realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { WebhookReceiver } from 'livekit-server-sdk';
import type { ConversationReport } from '../../agent/report/types.ts';

/** Options of {@link startReceiver}. */
export interface ReceiverOptions {
  /** The worker's `LIVEKIT_API_KEY` / `LIVEKIT_API_SECRET`: the pair the reports are signed with. */
  apiKey: string;
  apiSecret: string;
  /** Where reports are written (created if missing). */
  dir: string;
  port?: number;
  host?: string;
  /** Where summaries go (default: console.log). */
  print?: (text: string) => void;
}

/** Largest body taken; the worker keeps reports well under 1 MiB. */
const MAX_BODY = 2 * 1024 * 1024;

/** A few lines about one conversation: who, how long, turns, tool calls, tokens. */
export function summarize(id: string, r: ConversationReport): string {
  const turns = { user: 0, agent: 0, chat: 0 };
  for (const t of r.transcript) {
    if (!('speaker' in t)) continue;
    if (t.chat) turns.chat++;
    else turns[t.speaker.kind]++;
  }
  const people = r.participants.map((p) => p.identity);
  const calls = r.toolCalls.map(
    (c) => `${c.name} ${c.outcome}${c.error ? ` (${c.error})` : ''} ${c.durationMs} ms`,
  );
  const usage = r.usage
    ? `${r.usage.input.tokens} in, ${r.usage.output.tokens} out, ${r.usage.total} total`
    : 'not reported';
  return [
    `report ${id}: room ${r.room.name}, ${(r.durationMs / 1000).toFixed(1)} s, model ${r.model}`,
    `  participants: ${[...new Set(people)].join(', ') || 'none'}`,
    `  turns: ${turns.user} spoken by users, ${turns.chat} chat, ${turns.agent} by the agent`,
    `  tool calls: ${calls.length ? calls.join('; ') : 'none'}`,
    `  tokens: ${usage}`,
    ...(r.reconnects.length ? [`  reconnects: ${r.reconnects.length}`] : []),
    ...(r.errors.length ? [`  errors: ${r.errors.map((e) => e.type).join(', ')}`] : []),
  ].join('\n');
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Serves `POST /reports`: 401 unless the signature and the body's digest verify, 204 for a LiveKit
 * webhook that is not a report, 422 for a report version this code does not know, else 200 once the
 * report is written. A retry carries the same id and overwrites the same file.
 */
export async function startReceiver(o: ReceiverOptions): Promise<{ url: string; close(): Promise<void> }> {
  const receiver = new WebhookReceiver(o.apiKey, o.apiSecret);
  const print = o.print ?? ((text: string) => console.log(text));
  const dir = resolve(o.dir);
  await mkdir(dir, { recursive: true });
  const http = createServer(async (req, res) => {
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== '/reports') {
      res.writeHead(404).end();
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      res.writeHead(413).end();
      return;
    }
    let event: Awaited<ReturnType<WebhookReceiver['receive']>>;
    try {
      // The raw body: the signature covers its exact bytes.
      event = await receiver.receive(body, req.headers.authorization);
    } catch {
      res.writeHead(401).end('not signed by our key, or changed on the way');
      return;
    }
    if ((event.event as string) !== 'conversation_report') {
      res.writeHead(204).end(); // one of LiveKit's own webhooks, signed with the same pair
      return;
    }
    const { report } = JSON.parse(body) as { report: ConversationReport };
    if (report?.version !== 1 || !/^[A-Za-z0-9_-]{1,64}$/.test(event.id)) {
      res.writeHead(422).end('unknown report version');
      return;
    }
    await writeFile(join(dir, `${event.id}.json`), `${JSON.stringify(report, null, 2)}\n`);
    print(summarize(event.id, report));
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => http.listen(o.port ?? 8796, o.host ?? '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}/reports`,
    close: () =>
      new Promise<void>((r) => {
        http.close(() => r());
        http.closeAllConnections();
      }),
  };
}

// Run as a program (not imported): the path node was given is this file.
if (process.argv[1] && realpathSync(process.argv[1]) === import.meta.filename) {
  const env = process.env;
  if (Boolean(env.LIVEKIT_API_KEY) !== Boolean(env.LIVEKIT_API_SECRET)) {
    console.error('set both LIVEKIT_API_KEY and LIVEKIT_API_SECRET, or neither (the local stack’s dev keys)');
    process.exit(2);
  }
  if (!env.LIVEKIT_API_KEY) console.error('no LIVEKIT_API_KEY: verifying with livekit.yaml’s dev keys');
  const { url } = await startReceiver({
    apiKey: env.LIVEKIT_API_KEY ?? 'devkey',
    apiSecret: env.LIVEKIT_API_SECRET ?? 'devsecret-0123456789abcdefghijklmnop',
    dir: env.REPORTS_DIR ?? 'reports',
    port: Number(env.REPORT_RECEIVER_PORT ?? 8796),
  });
  // Alone on the first line, for scripts (and the test) to read.
  console.log(url);
  console.error(`writing reports to ${resolve(env.REPORTS_DIR ?? 'reports')}; Ctrl-C to stop`);
}
