import { AutoSubscribe, defineAgent, type JobContext, log } from '@livekit/agents';
import { DisconnectReason, RoomEvent } from '@livekit/rtc-node';
import { JobAgent } from './api/job.ts';
import type { LiveSessionFactory } from './bridge/conversation-types.ts';
import { PreConnectAudio } from './bridge/pre-connect.ts';
import { RoomBridge } from './bridge/room-bridge.ts';
import { JobCheckpoint } from './checkpoint/job.ts';
import { checkpointKey } from './checkpoint/key.ts';
import { type AgentEnv, ConfigError, type RoomConfig, readAgentEnv, resolveRoomConfig } from './config.ts';
import {
  type HandoffTicket,
  handOff,
  readTicket,
  type TakeOver,
  TicketError,
  takeOver,
} from './handoff/index.ts';
import { LiveSession } from './live/session.ts';
import type { Logger } from './log.ts';
import { McpTools, narrowForRoom } from './mcp/index.ts';
import { removeJobRecord, reportSessions, writeJobRecord } from './ops/channel.ts';
import { watchEmptyRoom } from './ops/empty-room.ts';
import { startJobOps } from './ops/job.ts';
import { requestRejoin } from './ops/rejoin.ts';
import { setupTracing } from './ops/tracing.ts';
import { earlierTwin, readJobStart } from './recovery/job.ts';
import { recoveryKey } from './recovery/seal.ts';
import { reportWebhook, startReport } from './report/index.ts';

/**
 * The job: join the room, resolve the room's configuration (env defaults ← room metadata ← dispatch
 * metadata) and run the room bridge until the room or the job ends. Configuration and Live failures
 * are logged and shown as `lk.agent.state = failed`; they never crash the job process, and a failed
 * job ends when its room empties or `AGENT_FAILED_JOB_TIMEOUT_S` after the failure.
 */
export default defineAgent({
  // Job processes start here, before any job: OTLP trace export when OTEL_EXPORTER_OTLP_* is set.
  prewarm: async () => {
    await setupTracing();
  },
  entry: async (ctx: JobContext) => {
    const logger = log().child({ job: ctx.job.id, roomSid: ctx.job.room?.sid }) as unknown as Logger;
    const env = readAgentEnv();
    const { worker, ops: settings } = env;
    const agentName = ctx.job.agentName ?? '';
    const livekit = {
      url: worker.livekitUrl,
      apiKey: worker.livekitApiKey,
      apiSecret: worker.livekitApiSecret,
    };
    const key = env.checkpoint.enabled ? checkpointKey(env.checkpoint.secret) : undefined;
    // A dispatch that says it takes a conversation over (agent/handoff/): honoured only with a ticket a
    // worker sealed; anything else (a client can write dispatch metadata) keeps this job out of the room.
    let ticket: HandoffTicket | undefined;
    try {
      ticket = readTicket(ctx.job.metadata, key, {
        room: ctx.job.room?.name ?? '',
        agentName,
      });
    } catch (err) {
      if (!(err instanceof TicketError)) throw err;
      logger.warn(
        { room: ctx.job.room?.name, reason: err.reason },
        `hand-off refused (${err.message}): this job does not join`,
      );
      ctx.shutdown('hand-off refused');
      return;
    }
    // A recovery dispatch (agent/recovery/, docs/recovery.md) carries the dead job's configuration,
    // sealed; one whose seal does not verify is refused before the agent joins.
    const start = readJobStart(ctx.job.metadata ?? '', recoveryKey(env.checkpoint.secret), {
      room: ctx.job.room?.name ?? '',
      agentName,
    });
    if ('refused' in start) {
      logger.warn(
        { room: ctx.job.room?.name, reason: start.refused },
        'recovery dispatch refused: its marker does not verify (forged, foreign or expired); not joining',
      );
      ctx.shutdown('recovery refused');
      return;
    }
    const { recovery } = start;
    // A hand-off's ticket is for this job only: its configuration comes from the checkpoint.
    const jobMetadata = ticket ? '' : start.metadata;
    // Before connecting: clients send their pre-connect audio the moment the agent is active.
    const preConnect = new PreConnectAudio({ room: ctx.room, logger });
    preConnect.listen();
    ctx.addShutdownCallback(async () => preConnect.close());
    await ctx.connect(undefined, AutoSubscribe.SUBSCRIBE_ALL);
    const room = ctx.room;
    if (recovery) {
      const twin = earlierTwin(room, agentName, recovery);
      if (twin) {
        logger.info(
          { room: room.name, twin },
          'recovery: another agent of this name is already back; leaving',
        );
        ctx.shutdown('recovered twice');
        return;
      }
      // The model's context comes back below, from the room's checkpoint (a fresh session without one).
      logger.info(
        { room: room.name, cause: recovery.cause, attempt: recovery.attempt, from: recovery.from.identity },
        'recovery: agent back in the room',
      );
    }
    // While this record exists the worker takes the process's death for a crash and brings the agent
    // back (agent/recovery/local.ts); every orderly end removes it, the room disconnect first of all.
    const identity = room.localParticipant?.identity ?? '';
    writeJobRecord(env.loadDir, {
      jobId: ctx.job.id,
      pid: process.pid,
      room: room.name ?? '',
      agentName,
      identity,
      metadata: jobMetadata,
      attempt: recovery?.attempt ?? 0,
    });
    const forget = () => removeJobRecord(env.loadDir, ctx.job.id);
    room.once(RoomEvent.Disconnected, forget);
    ctx.addShutdownCallback(async () => forget());
    const ops = startJobOps({
      room,
      logger,
      dir: env.loadDir,
      shutdown: (reason) => ctx.shutdown(reason),
      replyWaitMs: settings.drainReplyWaitMs,
      takeOverWaitMs: settings.handoffTimeoutMs,
    });
    ctx.addShutdownCallback(() => ops.aclose());

    // Pushed out by a connection with our identity: the framework ends the job; a new dispatch
    // brings the agent back under a new identity (bounded per room).
    let rejoin: Promise<boolean> | undefined;
    room.once(RoomEvent.Disconnected, (reason) => {
      if (reason !== DisconnectReason.DUPLICATE_IDENTITY) return;
      logger.warn(
        { room: room.name, identity: room.localParticipant?.identity },
        'another connection joined with the agent identity (DUPLICATE_IDENTITY): this job ends',
      );
      ops.error('duplicate_identity');
      if (settings.maxRejoins === 0 || !room.name) return;
      rejoin = requestRejoin({
        livekitUrl: worker.livekitUrl,
        apiKey: worker.livekitApiKey,
        apiSecret: worker.livekitApiSecret,
        room: room.name,
        agentName,
        metadata: jobMetadata,
        max: settings.maxRejoins,
        logger,
      });
    });
    ctx.addShutdownCallback(async () => {
      await rejoin;
    });

    if (settings.emptyRoomTimeoutMs !== undefined) {
      const stop = watchEmptyRoom(room, {
        graceMs: settings.emptyRoomTimeoutMs,
        onEmpty: () => {
          logger.info({ room: room.name }, 'everyone left: ending the job');
          ctx.shutdown('room empty');
        },
      });
      ctx.addShutdownCallback(async () => stop());
    }
    // A failed job holds a process and a room seat for nobody: bounded even while people stay.
    let failedTimer: NodeJS.Timeout | undefined;
    const failed = (yes: boolean) => {
      if (!yes) {
        clearTimeout(failedTimer);
        failedTimer = undefined;
      } else {
        failedTimer ??= setTimeout(() => {
          logger.info({ room: room.name }, 'failed: ending the job (AGENT_FAILED_JOB_TIMEOUT_S)');
          ctx.shutdown('failed');
        }, settings.failedJobTimeoutMs);
      }
    };
    ctx.addShutdownCallback(async () => failed(false));

    // ── The agent module (agent/api/, `--agent` / AGENT_MODULE): its tools, instructions → the room
    // defaults' systemInstruction, roomConfig(room) over the resolved config; onReport and event hooks
    // below. The worker loaded it at start, so a bad module never gets this far.
    const roomMetadata = room.metadata ?? ctx.job.room?.metadata;
    // A conversation an earlier job of this agent left in this room (a crash, a hand-off): its
    // checkpoint decides the configuration and where the Live sessions start from.
    const checkpoint = JobCheckpoint.open({
      settings: env.checkpoint,
      livekit,
      room: room.name ?? '',
      agentName,
      jobId: ctx.job.id,
      identity: room.localParticipant?.identity ?? '',
      metadata: roomMetadata,
      logger,
    });
    const resume = checkpoint?.resume;
    // The old job's checkpoint (it may have written more since the dispatch: the conversation goes on
    // there until we are ready).
    if (
      ticket &&
      (!resume || resume.checkpoint.seq < ticket.seq || resume.checkpoint.owner.jobId !== ticket.from.jobId)
    ) {
      logger.warn(
        { room: room.name },
        'hand-off refused (the checkpoint it names is not in the room): this job leaves',
      );
      ctx.shutdown('hand-off refused');
      return;
    }
    const agent = await JobAgent.load(
      env.agentModule,
      { name: room.name ?? '', metadata: roomMetadata ?? '', jobMetadata },
      logger,
    );
    // ── end of the agent module block.
    const tools = agent.tools;
    let config: RoomConfig;
    if (resume) {
      // Resolved (and shaped by the agent module's hook) by the job that wrote it, as it ran; of its
      // tools, those this worker has.
      const own = resume.config.tools?.filter((t) => tools.names.includes(t));
      config = { ...resume.config, ...(own && { tools: own }) };
    } else
      try {
        const resolveOptions = {
          availableTools: tools.names,
          mcpServers: worker.mcpServers,
          backend: (worker.vertex ? 'vertex' : 'gemini') as 'vertex' | 'gemini',
          functions: tools.declarations(),
          // What the room's model ignores, or a model the catalogue does not know: once per room.
          warn: (message: string) => logger.warn({ room: room.name }, `room config: ${message}`),
        };
        config = resolveRoomConfig(
          await agent.defaults(worker.room),
          { roomMetadata, jobMetadata },
          resolveOptions,
        );
        config = await agent.configure(config, resolveOptions);
      } catch (err) {
        // A ConfigError names the setting and never its secret; anything else (the agent module's own
        // code) may quote anything, so clients only learn that configuration failed.
        const message = err instanceof ConfigError ? err.message : 'the room configuration failed';
        logger.error(`room ${room.name}: ${err instanceof ConfigError ? err.message : String(err)}`);
        ops.error('config');
        failed(true);
        await room.localParticipant
          ?.setAttributes({ 'lk.agent.state': 'failed', 'lk.agent.error': message })
          .catch(() => {});
        return;
      }
    // The room's MCP servers (its selection was checked with the rest of its configuration), their
    // tools merged with the room's own; connected before the bridge opens any Live session.
    const mcp = await McpTools.start({
      servers: narrowForRoom(worker.mcpServers, config.mcp),
      logger,
      onEvent: (e) => ops.metrics.mcp(e),
    });
    const own = tools.select(config.tools ?? tools.names);
    const registry = mcp.registry(own);
    const resolved = config; // what a checkpoint keeps: before MCP's tools, which the room re-selects
    config = { ...config, tools: registry.names };
    let taken: TakeOver | undefined;
    // A hand-off to this job: until it completed (or failed), a drain of this worker waits for it.
    let takingOver = !!ticket;
    const bridge = new RoomBridge({
      room,
      config,
      tools: registry,
      liveSession: liveSessions(env),
      backend: worker.vertex ? 'vertex' : 'gemini',
      preConnect,
      ...(resume && { resume: resume.checkpoint }),
      ...(ticket &&
        key && {
          handoff: async () => {
            logger.info(
              { room: room.name, from: ticket.from.identity },
              'hand-off: taking the conversation over',
            );
            taken = await takeOver({
              room,
              ticket,
              livekit,
              key,
              timeoutMs: settings.handoffTimeoutMs,
              chat: (c) => bridge.relayChat(c.from, c.text, c.id),
              logger,
            });
            return taken.release;
          },
        }),
      logger,
    });
    // A server down at start that comes up, or one that changes its list (tools/list_changed): the
    // open Live sessions get the new declarations (contextUpdate), later ones at setup.
    mcp.on('toolsChanged', () => bridge.updateTools(mcp.registry(own)));
    bridge.on('sessions', (n) => reportSessions(env.loadDir, ctx.job.id, n));
    bridge.on('state', (s) => failed(s === 'failed'));
    const talking = new Set<string>();
    bridge.on('talk', (identity, on) => (on ? talking.add(identity) : talking.delete(identity)));
    ops.attach(bridge, {
      model: config.model,
      takingOver: () => takingOver,
      ...(settings.drainMode === 'handoff' &&
        checkpoint &&
        key && {
          handOff: (between) =>
            handOff({
              room,
              livekit,
              agentName,
              jobId: ctx.job.id,
              key,
              checkpoint,
              bridge,
              // The drain's turn boundary (a reply owed counts until answered), and nobody talking.
              quiet: () => between() && talking.size === 0,
              timeoutMs: settings.handoffTimeoutMs,
              logger,
            }),
        }),
    });
    agent.attach(bridge);
    const report = startReport({
      room,
      bridge,
      jobId: ctx.job.id,
      config,
      logger,
      onReport: agent.onReport,
      webhook: reportWebhook(env),
    });
    ctx.addShutdownCallback(async () => {
      await report.finish();
    });
    ctx.addShutdownCallback(async () => {
      // The final write of a planned exit: the handle and tail as they are when the sessions close.
      await bridge.aclose();
      await checkpoint?.aclose();
      await mcp.close();
      reportSessions(env.loadDir, ctx.job.id, 0);
      await ops.aclose(); // again, after the bridge's last counts
    });
    logger.info(
      { room: room.name, policy: config.policy, model: config.model, resumed: !!resume },
      'agent joined',
    );
    try {
      await bridge.start();
    } catch (err) {
      // Only a hand-off makes start() throw: the old job keeps the conversation, this one leaves.
      logger.warn({ room: room.name, err: String(err) }, 'hand-off failed: this job leaves');
      takingOver = false;
      ctx.shutdown('hand-off failed');
      return;
    }
    if (taken)
      logger.info(
        // switchMs: from the old sessions' close to ours being open (the silence the switch adds).
        { room: room.name, seq: taken.point.checkpoint.seq, switchMs: Date.now() - taken.release.at },
        'hand-off: resumed the conversation',
      );
    checkpoint?.attach(bridge, resolved, taken?.point.checkpoint.seq);
    // From here the conversation is this job's, checkpointed: a drain hands it on or ends it as any.
    takingOver = false;
  },
});

/**
 * Live sessions with the worker's credentials and endpoint — Vertex AI's when configured, else the
 * Gemini API key: the bridge gets this, never the credentials.
 */
function liveSessions(env: AgentEnv): LiveSessionFactory {
  const { geminiApiKey, geminiBaseUrl, vertex } = env.worker;
  const credentials = vertex
    ? { vertex: geminiBaseUrl && !vertex.baseUrl ? { ...vertex, baseUrl: geminiBaseUrl } : vertex }
    : { apiKey: geminiApiKey, ...(geminiBaseUrl && { baseUrl: geminiBaseUrl }) };
  return (setup) =>
    new LiveSession({
      ...credentials,
      ...(env.reconnectBackoffMs !== undefined && { reconnectBackoffMs: env.reconnectBackoffMs }),
      ...setup,
    });
}
