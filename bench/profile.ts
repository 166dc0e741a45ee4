/**
 * Micro-benchmarks of the per-frame work on our agent's audio path, with the project's own functions
 * and the real `@google/genai` SDK: `node bench/profile.ts` (about 20 s). Each line is the cost of one
 * operation in µs (median of several rounds) and what it would cost per session-second of audio.
 *
 * Uplink per 20 ms of user audio: PCM16 → base64 (shared/audio/pcm.ts), `session.sendRealtimeInput`
 * (SDK converters + JSON.stringify + ws framing). Downlink per 40 ms model chunk: JSON.parse of the
 * server message, base64 → PCM16, cutting into 20 ms frames. Alternatives are measured beside them.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GoogleGenAI, Modality } from '@google/genai';
import { WebSocketServer } from 'ws';
import { speechLike } from '../shared/audio/generate.ts';
import { base64ToPcm16, pcm16ToBase64 } from '../shared/audio/pcm.ts';

interface Row {
  name: string;
  usPerOp: number;
  perSecond: number;
  /** Operations per second of audio (50 for 20 ms uplink frames, 25 for 40 ms downlink chunks). */
  opsPerAudioSecond: number;
}

function measure(name: string, opsPerAudioSecond: number, f: () => unknown, iterations = 20_000): Row {
  for (let i = 0; i < 2000; i++) f(); // warm-up (JIT)
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) f();
    rounds.push(Number(process.hrtime.bigint() - t0) / 1000 / iterations);
  }
  rounds.sort((a, b) => a - b);
  const us = rounds[3]!;
  return { name, usPerOp: Math.round(us * 100) / 100, perSecond: Math.round(1e6 / us), opsPerAudioSecond };
}

const up20 = speechLike(0.02, 16_000, { seed: 3 }); // 320 samples
const down40 = speechLike(0.04, 24_000, { seed: 4 }); // 960 samples
const up64 = pcm16ToBase64(up20);
const down64 = pcm16ToBase64(down40);
const serverMsg = JSON.stringify({
  serverContent: {
    modelTurn: { parts: [{ inlineData: { mimeType: 'audio/pcm;rate=24000', data: down64 } }] },
  },
});

/** Little-endian hosts: the Int16Array's bytes are already the wire format. */
const zeroCopyToBase64 = (s: Int16Array) =>
  Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('base64');
const alignedFromBase64 = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  // Buffer.from may hand out a pooled slice at an odd offset: copy into a fresh aligned array.
  const out = new Int16Array(buf.byteLength >> 1);
  new Uint8Array(out.buffer).set(buf.subarray(0, out.length * 2));
  return out;
};

const rows: Row[] = [];
rows.push(measure('uplink: pcm16ToBase64 (DataView loop), 20 ms @16k', 50, () => pcm16ToBase64(up20)));
rows.push(measure('uplink: zero-copy Buffer→base64, 20 ms @16k', 50, () => zeroCopyToBase64(up20)));
rows.push(
  measure('uplink: JSON.stringify realtimeInput, 20 ms', 50, () =>
    JSON.stringify({ realtimeInput: { audio: { data: up64, mimeType: 'audio/pcm;rate=16000' } } }),
  ),
);
rows.push(measure('downlink: JSON.parse server audio msg, 40 ms', 25, () => JSON.parse(serverMsg)));
rows.push(measure('downlink: base64ToPcm16 (DataView loop), 40 ms @24k', 25, () => base64ToPcm16(down64)));
rows.push(measure('downlink: Buffer base64 + aligned copy, 40 ms @24k', 25, () => alignedFromBase64(down64)));
rows.push(
  measure('downlink: join partial + slice 20 ms frames (output.ts), 40 ms', 25, () => {
    const partial = new Int16Array(0);
    const joined = new Int16Array(partial.length + down40.length);
    joined.set(partial);
    joined.set(down40, partial.length);
    const frames: Int16Array[] = [];
    for (let off = 0; joined.length - off >= 480; off += 480) frames.push(joined.slice(off, off + 480));
    return frames;
  }),
);
rows.push(
  measure('downlink: subarray 20 ms frames (no copies), 40 ms', 25, () => {
    const frames: Int16Array[] = [];
    for (let off = 0; down40.length - off >= 480; off += 480) frames.push(down40.subarray(off, off + 480));
    return frames;
  }),
);

// agent/live/replay-log.ts ReplayLog.bound() (then session.ts #bound()): summed every buffered audio message on each submit (O(n) per frame).
for (const n of [250, 1500, 6000]) {
  const unacked = Array.from({ length: n }, () => ({ msg: { kind: 'audio' as string, ms: 20 } }));
  rows.push(
    measure(
      `uplink: replay-buffer scan per frame, ${n} buffered (${(n * 0.02).toFixed(0)} s)`,
      50,
      () => {
        let ms = 0;
        for (const e of unacked) if (e.msg.kind === 'audio') ms += e.msg.ms;
        return ms;
      },
      2000,
    ),
  );
}

// The SDK's send path: a real Live session against a local socket that only acknowledges setup.
const http = createServer();
const wss = new WebSocketServer({ server: http });
let received = 0;
wss.on('connection', (ws) => {
  ws.on('message', (d) => {
    received++;
    if (String(d).includes('"setup"')) ws.send(JSON.stringify({ setupComplete: {} }));
  });
});
await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
const ai = new GoogleGenAI({
  apiKey: 'profile',
  httpOptions: { baseUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}` },
});
const session = await ai.live.connect({
  model: 'gemini-2.5-flash-native-audio-preview-12-2025',
  config: { responseModalities: [Modality.AUDIO] },
  callbacks: { onmessage: () => {} },
});
rows.push(
  measure(
    'uplink: SDK session.sendRealtimeInput (converters + JSON + ws send), 20 ms',
    50,
    () => session.sendRealtimeInput({ audio: { data: up64, mimeType: 'audio/pcm;rate=16000' } }),
    5000,
  ),
);
session.close();
wss.close();
http.close();

const w = Math.max(...rows.map((r) => r.name.length));
process.stdout.write(`${'operation'.padEnd(w)}  µs/op   µs per audio-second\n`);
for (const r of rows) {
  process.stdout.write(
    `${r.name.padEnd(w)}  ${String(r.usPerOp).padStart(6)}  ${String(Math.round(r.usPerOp * r.opsPerAudioSecond)).padStart(6)}\n`,
  );
}
process.stdout.write(`(socket received ${received} frames)\n`);
process.exit(0);
