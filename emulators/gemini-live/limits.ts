/**
 * The documented time limits of an active session: the connection lifetime (goAway notice, then 1011),
 * the session length without context compression (audio-only, or shorter once video arrived), and an
 * ephemeral token's `expireTime`.
 */
import { durationString } from './protocol.ts';
import type { SessionCore } from './session-core.ts';
import { now } from './stats.ts';
import type { AuthToken } from './tokens.ts';

/** The service's reason when a connection or session runs out of time (close 1011). */
export const DEADLINE = 'Deadline expired before operation could complete.';

export const TOKEN_EXPIRED = 'Auth token has expired (expireTime passed).';

export class SessionLimits {
  #core: SessionCore;
  #sessionLimitTimer: NodeJS.Timeout | undefined;

  constructor(core: SessionCore) {
    this.#core = core;
  }

  /** Arms every limit; call once setup is complete. */
  start(token: AuthToken | undefined): void {
    const core = this.#core;
    const { connectionLifetimeMs, goAwayNoticeMs } = core.ctx.options.limits;
    core.timer(() => {
      core.stats.goAways++;
      core.send({ goAway: { timeLeft: durationString(Math.min(goAwayNoticeMs, connectionLifetimeMs)) } });
    }, connectionLifetimeMs - goAwayNoticeMs);
    core.timer(
      () => core.close(1011, `${DEADLINE} (connection lifetime ${durationString(connectionLifetimeMs)})`),
      connectionLifetimeMs,
    );
    this.armSessionLimit();
    // An ephemeral token's `expireTime` bounds the sessions it opened, resumed ones included: "messages
    // in Live API sessions will be rejected. (Gemini may preemptively close the session after this
    // time.)" (`CreateAuthTokenConfig.expireTime` in the google-genai SDK reference; ai.google.dev
    // "Ephemeral tokens": 30 minutes "to send messages over that connection"). No close code is
    // documented; the emulator closes at once with 1007, the code of every other credential refusal.
    if (token) core.timer(() => core.close(1007, TOKEN_EXPIRED), token.expireTime - now());
  }

  /** Without compression the session ends at the audio-only or (once video arrived) video limit. */
  armSessionLimit(): void {
    const core = this.#core;
    core.clearTimer(this.#sessionLimitTimer);
    this.#sessionLimitTimer = undefined;
    if (core.cfg.compression) return;
    const { audioSessionLimitMs, videoSessionLimitMs } = core.ctx.options.limits;
    const limit = core.conv.videoSeen ? videoSessionLimitMs : audioSessionLimitMs;
    const kind = core.conv.videoSeen ? 'audio+video' : 'audio-only';
    this.#sessionLimitTimer = core.timer(
      () =>
        core.close(
          1011,
          `${DEADLINE} (${kind} session limit ${durationString(limit)}; see contextWindowCompression)`,
        ),
      core.conv.startedAt + limit - now(),
    );
  }
}
