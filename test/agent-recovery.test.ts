/**
 * Crash recovery's decisions on their own (#16): the sealed recovery marker, and which dispatch state
 * means "its worker died". The whole path, with real workers: agent-worker-recovery.test.ts.
 */
import { AgentDispatch, AgentDispatchState, Job, JobState, JobStatus } from '@livekit/protocol';
import { describe, expect, it } from 'vitest';
import { readJobStart } from '../agent/recovery/job.ts';
import {
  claimedRecovery,
  openRecovery,
  RECOVERY_MAX_AGE_MS,
  type Recovery,
  recoveryKey,
  recoveryMetadata,
  sealRecovery,
} from '../agent/recovery/seal.ts';
import { orphanedJob } from '../agent/recovery/watcher.ts';

const key = recoveryKey('the-api-secret');
const bind = { room: 'r1', agentName: 'gemini' };
const marker = (o: Partial<Recovery> = {}): Recovery => ({
  ...bind,
  from: { jobId: 'AJ_dead', identity: 'agent-AJ_dead' },
  cause: 'job',
  attempt: 1,
  at: Date.now(),
  metadata: '{"voice":"Kore"}',
  ...o,
});

describe('the sealed recovery marker', () => {
  it('opens for its room and agent, carrying the dead job and its configuration', () => {
    const sealed = sealRecovery(marker(), key);
    expect(sealed).not.toContain('Kore');
    expect(openRecovery(sealed, key, bind)).toMatchObject({ metadata: '{"voice":"Kore"}', attempt: 1 });
    const start = readJobStart(recoveryMetadata(sealed), key, bind);
    expect(start).toMatchObject({ metadata: '{"voice":"Kore"}', recovery: { cause: 'job' } });
  });

  it('refuses a changed payload, another key, another room or agent, and an old marker', () => {
    const sealed = sealRecovery(marker(), key);
    const [v, payload, tag] = sealed.split('.');
    const other = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), metadata: '{}' }),
    ).toString('base64url');
    const refusal = (s: string, b = bind, o = {}) => {
      try {
        openRecovery(s, key, b, o);
        return 'opened';
      } catch (err) {
        return (err as { reason: string }).reason;
      }
    };
    expect(refusal(`${v}.${other}.${tag}`)).toBe('tampered');
    expect(refusal(sealRecovery(marker(), recoveryKey('another-secret')))).toBe('tampered');
    expect(refusal(sealed, { room: 'r2', agentName: 'gemini' })).toBe('foreign room or agent');
    expect(refusal(sealed, { room: 'r1', agentName: 'other' })).toBe('foreign room or agent');
    expect(refusal(sealed, bind, { now: Date.now() + RECOVERY_MAX_AGE_MS + 1000 })).toBe('expired');
    expect(refusal(sealed, bind, { now: Date.now() + RECOVERY_MAX_AGE_MS + 1000, anyAge: true })).toBe(
      'opened',
    );
    expect(refusal('r1.e30')).toBe('malformed');
    expect(refusal('x'.repeat(200_000))).toBe('malformed');
  });

  it('any metadata naming the key is a claim; other metadata runs as it is', () => {
    expect(claimedRecovery('{"voice":"Kore"}')).toBeUndefined();
    expect(claimedRecovery('not json')).toBeUndefined();
    expect(claimedRecovery('{"gemini.recovery": 42}')).toBe('');
    expect(readJobStart('{"voice":"Kore"}', key, bind)).toEqual({ metadata: '{"voice":"Kore"}' });
    expect(readJobStart('{"gemini.recovery": 42, "voice":"Kore"}', key, bind)).toEqual({
      refused: 'malformed',
    });
  });
});

describe('which dispatch state means the worker died', () => {
  const now = 1_000_000;
  const ns = (ms: number) => BigInt(ms) * 1_000_000n;
  const dispatch = (createdMs: number, job?: { status: JobStatus; startedMs: number }) =>
    new AgentDispatch({
      id: `AD_${createdMs}`,
      agentName: 'gemini',
      state: new AgentDispatchState({
        createdAt: ns(createdMs),
        jobs: job
          ? [
              new Job({
                id: `AJ_${createdMs}`,
                state: new JobState({ status: job.status, startedAt: ns(job.startedMs) }),
              }),
            ]
          : [],
      }),
    });

  it('a job LiveKit still counts as running, past the grace: an orphan', () => {
    const d = dispatch(now - 60_000, { status: JobStatus.JS_RUNNING, startedMs: now - 50_000 });
    expect(orphanedJob([d], now, 10_000)?.job.id).toBe(`AJ_${now - 60_000}`);
  });

  it('an ended job (its agent left while its worker lived: a clean end, or a job death its worker handles) is not', () => {
    for (const status of [JobStatus.JS_FAILED, JobStatus.JS_SUCCESS, JobStatus.JS_PENDING]) {
      expect(
        orphanedJob([dispatch(now - 60_000, { status, startedMs: now - 50_000 })], now, 10_000),
      ).toBeUndefined();
    }
  });

  it('within the grace nothing is: a young dispatch (a recovery under way) or a job just started', () => {
    const old = dispatch(now - 60_000, { status: JobStatus.JS_RUNNING, startedMs: now - 50_000 });
    const young = dispatch(now - 5_000);
    expect(orphanedJob([old, young], now, 10_000)).toBeUndefined();
    expect(
      orphanedJob(
        [dispatch(now - 60_000, { status: JobStatus.JS_RUNNING, startedMs: now - 5_000 })],
        now,
        10_000,
      ),
    ).toBeUndefined();
    expect(orphanedJob([], now, 10_000)).toBeUndefined();
  });
});
