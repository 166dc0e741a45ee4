/**
 * In-process timestamps for the "agent-added latency" figure, loaded into a worker and its job processes
 * with `NODE_OPTIONS=--import=…/agent-probe.ts` (the bench sets `BENCH_PROBE_DIR`). It sees both sides
 * the same way, at the two points where audio enters and leaves an agent's own code:
 *
 * - in:  an audio frame delivered by the native `AudioStream` (the FFI `frameReceived` event, as the
 *        job's JavaScript gets it);
 * - out: `AudioSource.captureFrame` called with agent speech.
 *
 * Voiced stretches (10 ms blocks above −40 dBFS, the tap's rule; gaps < 100 ms joined) are appended as
 * JSON lines to `<dir>/<pid>.jsonl` in epoch ms: `{"dir":"in","stream":…,"start":…,"end":…}` once an
 * input stretch has ended (its last voiced frame is what matters), `{"dir":"out","stream":…,"start":…}`
 * as soon as agent speech starts (its first frame is what matters).
 * Only the bench loads this file; it reads rtc-node's FFI client by file path because the package does
 * not export it.
 */
import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AudioSource } from '@livekit/rtc-node';
import { now } from './stats.ts';
import { voicedRange } from './voice.ts';

const dir = process.env.BENCH_PROBE_DIR;
const JOIN_GAP_MS = 100;

/** The parts of rtc-node's FFI client and its events this probe reads. */
interface FfiClientLike {
  emit(name: unknown, ev: unknown, ...rest: unknown[]): boolean;
  copyBuffer(ptr: bigint, len: number): Uint8Array;
}
interface FfiEventLike {
  message?: {
    case?: string;
    value: {
      streamHandle?: bigint;
      message?: {
        case?: string;
        value: {
          frame: {
            info: { dataPtr: bigint; numChannels: number; samplesPerChannel: number; sampleRate: number };
          };
        };
      };
    };
  };
}

interface Run {
  start: number;
  end: number;
}

function track(direction: 'in' | 'out') {
  const open = new Map<string, Run>();
  const file = join(dir!, `${process.pid}.jsonl`);
  const write = (line: object) => appendFileSync(file, `${JSON.stringify({ dir: direction, ...line })}\n`);
  // An input stretch is written once its stream has been quiet for JOIN_GAP_MS (seen on a later frame:
  // the user's track keeps delivering silence).
  return (stream: string, pcm: Int16Array, rate: number) => {
    const t = now();
    const run = open.get(stream);
    if (run && t - run.end > JOIN_GAP_MS) {
      if (direction === 'in') write({ stream, ...run });
      open.delete(stream);
    }
    if (voicedRange(pcm, rate).ms === 0) return;
    const cur = open.get(stream);
    if (cur) cur.end = t;
    else {
      open.set(stream, { start: t, end: t });
      if (direction === 'out') write({ stream, start: t });
    }
  };
}

if (dir) {
  const onIn = track('in');
  const onOut = track('out');

  const require = createRequire(import.meta.url);
  const ffiPath = join(dirname(require.resolve('@livekit/rtc-node')), 'ffi_client.cjs');
  const { FfiClient } = require(ffiPath) as { FfiClient: { prototype: FfiClientLike } };
  const emit = FfiClient.prototype.emit;
  FfiClient.prototype.emit = function (this: FfiClientLike, name, ev, ...rest) {
    const m = (ev as FfiEventLike | undefined)?.message;
    if (name === 'ffi_event' && m?.case === 'audioStreamEvent' && m.value.message?.case === 'frameReceived') {
      const { info } = m.value.message.value.frame;
      if (info.numChannels === 1) {
        // The stream frees this buffer once its own listener has run; ours runs first.
        const bytes = this.copyBuffer(info.dataPtr, info.samplesPerChannel * 2).slice();
        onIn(String(m.value.streamHandle), new Int16Array(bytes.buffer), info.sampleRate);
      }
    }
    return emit.call(this, name, ev, ...rest);
  };

  const capture = AudioSource.prototype.captureFrame;
  const ids = new WeakMap<AudioSource, string>();
  let next = 0;
  AudioSource.prototype.captureFrame = function (this: AudioSource, frame) {
    let id = ids.get(this);
    if (!id) {
      id = `source-${next++}`;
      ids.set(this, id);
    }
    if (frame.channels === 1) onOut(id, frame.data, frame.sampleRate);
    return capture.call(this, frame);
  };
}
