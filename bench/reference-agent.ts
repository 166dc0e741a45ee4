/**
 * The reference side of the benchmark: LiveKit's own Gemini integration (`@livekit/agents-plugin-google`
 * 1.9, its realtime model inside a `voice.AgentSession`) as an agents worker, run exactly like ours:
 * `node bench/reference-agent.ts start` with LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET,
 * GOOGLE_GEMINI_BASE_URL (the emulator) and GEMINI_API_KEY or GOOGLE_API_KEY. It registers as
 * `BENCH_AGENT_NAME` (default `reference-bench`) so each side is dispatched explicitly.
 *
 * No turn detector or VAD plugin: the realtime model relies on the Live API's server-side activity
 * detection, so nothing needs a model download.
 *
 * Dev-server gap worked around here: the framework's audio output waits for the server's
 * `SignalResponse.trackSubscribed` (publication.waitForSubscription) before it plays anything, and the
 * dev server does not send that message yet. With `BENCH_ASSUME_SUBSCRIBED=1` (set by the bench) the
 * agent's own publications count as subscribed as soon as they are published — what a real
 * livekit-server reports a few ms later when the user auto-subscribes.
 */
import { fileURLToPath } from 'node:url';
import { cli, defineAgent, type JobContext, voice, WorkerOptions } from '@livekit/agents';
import * as google from '@livekit/agents-plugin-google';
import { type LocalTrackPublication, RoomEvent } from '@livekit/rtc-node';

const INSTRUCTIONS =
  'You are a helpful voice assistant in a LiveKit room. Keep answers short and conversational.';

export default defineAgent({
  entry: async (ctx: JobContext) => {
    if (process.env.BENCH_ASSUME_SUBSCRIBED === '1') {
      ctx.room.on(RoomEvent.LocalTrackPublished, (pub: LocalTrackPublication) => {
        (pub as unknown as { resolveFirstSubscription?: () => void }).resolveFirstSubscription?.();
      });
    }
    await ctx.connect();
    const baseUrl = process.env.GOOGLE_GEMINI_BASE_URL;
    const model = new google.realtime.RealtimeModel({
      model: process.env.GEMINI_MODEL || 'gemini-2.5-flash-native-audio-preview-12-2025',
      apiKey: process.env.GEMINI_API_KEY || process.env.GOOGLE_API_KEY,
      instructions: INSTRUCTIONS,
      ...(baseUrl ? { httpOptions: { baseUrl } } : {}),
    });
    const session = new voice.AgentSession({ llm: model });
    await session.start({
      agent: new voice.Agent({ instructions: INSTRUCTIONS }),
      room: ctx.room,
      record: false,
    });
  },
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  cli.runApp(
    new WorkerOptions({
      agent: fileURLToPath(import.meta.url),
      agentName: process.env.BENCH_AGENT_NAME ?? 'reference-bench',
      host: '127.0.0.1',
      port: Number(process.env.BENCH_HEALTH_PORT || '0'),
      numIdleProcesses: Number(process.env.BENCH_IDLE_PROCESSES || '1'),
      // Capacity is what the bench measures: never refuse a job for load.
      loadThreshold: 1,
      loadFunc: async () => 0,
    }),
  );
}
