import type { Room } from '@livekit/rtc-node';
import type { RoomBridge } from '../bridge/room-bridge.ts';
import type { RoomConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { ReportBuilder, type ReportLimits } from './builder.ts';
import { collectReport } from './collector.ts';
import type { ConversationReport } from './types.ts';
import { type ReportWebhookOptions, sendReport } from './webhook.ts';

export type { ReportLimits } from './builder.ts';
export type * from './types.ts';
export { REPORT_EVENT, type ReportWebhookOptions, reportBody, reportWebhook } from './webhook.ts';

/** Options of {@link startReport}. */
export interface ReportOptions {
  room: Room;
  /** The room's bridge, before `start()`. */
  bridge: RoomBridge;
  /** The LiveKit job id. */
  jobId: string;
  /** The room's resolved configuration (model, policy). */
  config: Pick<RoomConfig, 'model' | 'policy'>;
  logger: Logger;
  /** Receives the report when the job ends (bounded by the same deadline as the webhook). */
  onReport?: (report: ConversationReport) => void | Promise<void>;
  /** POSTs the report, signed like a LiveKit webhook. */
  webhook?: ReportWebhookOptions;
  /** Size bounds (defaults keep the JSON well under a megabyte). */
  limits?: Partial<ReportLimits>;
}

/** A conversation report being collected. */
export interface ReportHandle {
  /**
   * Ends the report and delivers it (`onReport`, webhook) within the deadline (`webhook.deadlineMs`,
   * default 5 s): resolves by then whatever the receivers do, never rejects. Later calls return the
   * same promise.
   */
  finish(): Promise<ConversationReport>;
}

/** Starts collecting the report of the job in `room`. Call before `bridge.start()`. */
export function startReport(o: ReportOptions): ReportHandle {
  const log = o.logger.child({ report: o.jobId });
  const builder = new ReportBuilder(
    {
      room: { name: o.room.name ?? '', sid: '' },
      jobId: o.jobId,
      agentIdentity: o.room.localParticipant?.identity ?? '',
      model: o.config.model,
      policy: o.config.policy,
    },
    o.limits,
  );
  // The sid arrives with the room's info; a job that ends before it reports an empty sid.
  o.room
    .getSid()
    .then((sid) => {
      builder.head.room.sid = sid;
    })
    .catch(() => {});
  const detach = collectReport(o.room, o.bridge, builder);
  let finished: Promise<ConversationReport> | undefined;

  const deliver = async (report: ConversationReport): Promise<void> => {
    const deadlineMs = o.webhook?.deadlineMs ?? 5000;
    const local = (async () => {
      try {
        await o.onReport?.(report);
      } catch (err) {
        log.warn({ err: String(err) }, 'report: onReport failed');
      }
    })();
    const sent = o.webhook && sendReport(report, o.webhook, log);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), deadlineMs);
    });
    const done = await Promise.race([Promise.all([local, sent]), deadline]);
    clearTimeout(timer);
    if (done === 'late')
      log.warn({ deadlineMs }, 'report: delivery still running at the deadline, going on without it');
  };

  return {
    finish() {
      finished ??= (async () => {
        detach();
        const report = builder.build();
        log.info(
          {
            room: report.room.name,
            durationMs: report.durationMs,
            participants: report.participants.length,
            transcript: report.transcript.length,
            toolCalls: report.toolCalls.length,
            reconnects: report.reconnects.length,
          },
          'report: conversation ended',
        );
        await deliver(report);
        return report;
      })();
      return finished;
    },
  };
}
