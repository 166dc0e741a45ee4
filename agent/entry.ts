import { AutoSubscribe, defineAgent, type JobContext, log } from '@livekit/agents';
import { RoomBridge } from './bridge/room-bridge.ts';
import { ConfigError, loadWorkerConfig, resolveRoomConfig } from './config.ts';
import { reportSessions } from './load.ts';
import type { Logger } from './log.ts';
import { watchEmptyRoom } from './ops/empty-room.ts';
import { startJobOps } from './ops/job.ts';
import { opsSettings } from './ops/settings.ts';
import { setupTracing } from './ops/tracing.ts';
import { defaultRegistry } from './tools/index.ts';

/**
 * The job: join the room, resolve the room's configuration (env defaults ← room metadata ← dispatch
 * metadata) and run the room bridge until the room or the job ends. Configuration and Live failures
 * are logged and shown as `lk.agent.state = failed`; they never crash the job process.
 */
export default defineAgent({
  // Job processes start here, before any job: OTLP trace export when OTEL_EXPORTER_OTLP_* is set.
  prewarm: async () => {
    await setupTracing();
  },
  entry: async (ctx: JobContext) => {
    const logger = log().child({ job: ctx.job.id, roomSid: ctx.job.room?.sid }) as unknown as Logger;
    const worker = loadWorkerConfig();
    await ctx.connect(undefined, AutoSubscribe.SUBSCRIBE_ALL);
    const room = ctx.room;
    const ops = startJobOps({ room, logger, shutdown: (reason) => ctx.shutdown(reason) });
    ctx.addShutdownCallback(() => ops.aclose());
    let config: ReturnType<typeof resolveRoomConfig>;
    try {
      config = resolveRoomConfig(worker.room, {
        roomMetadata: room.metadata ?? ctx.job.room?.metadata,
        jobMetadata: ctx.job.metadata,
      });
    } catch (err) {
      const message = err instanceof ConfigError ? err.message : String(err);
      logger.error(`room ${room.name}: ${message}`);
      ops.error('config');
      await room.localParticipant
        ?.setAttributes({ 'lk.agent.state': 'failed', 'lk.agent.error': message })
        .catch(() => {});
      return;
    }
    const bridge = new RoomBridge({
      room,
      config,
      tools: defaultRegistry(),
      gemini: { apiKey: worker.geminiApiKey, ...(worker.geminiBaseUrl && { baseUrl: worker.geminiBaseUrl }) },
      logger,
      ...(process.env.AGENT_RECONNECT_BACKOFF_MS && {
        live: { reconnectBackoffMs: Number(process.env.AGENT_RECONNECT_BACKOFF_MS) },
      }),
    });
    bridge.on('sessions', (n) => reportSessions(ctx.job.id, n));
    ops.attach(bridge);
    ctx.addShutdownCallback(async () => {
      await bridge.aclose();
      reportSessions(ctx.job.id, 0);
      await ops.aclose(); // again, after the bridge's last counts
    });
    const { emptyRoomTimeoutMs } = opsSettings();
    if (emptyRoomTimeoutMs !== undefined) {
      const stop = watchEmptyRoom(room, {
        graceMs: emptyRoomTimeoutMs,
        onEmpty: () => {
          logger.info({ room: room.name }, 'everyone left: ending the job');
          ctx.shutdown('room empty');
        },
      });
      ctx.addShutdownCallback(async () => stop());
    }
    logger.info({ room: room.name, policy: config.policy, model: config.model }, 'agent joined');
    await bridge.start();
  },
});
