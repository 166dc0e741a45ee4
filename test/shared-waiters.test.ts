/** The event-driven waits the test and bench drivers share (shared/waiters.ts). */
import { describe, expect, it } from 'vitest';
import { Waiters } from '../shared/waiters.ts';

describe('Waiters', () => {
  it('resolves on the notify after which the value exists, and forgets the wait', async () => {
    const waiters = new Waiters();
    let value: string | undefined;
    let checks = 0;
    const wait = waiters.until(
      () => {
        checks += 1;
        return value;
      },
      { what: 'a value', timeoutMs: 5_000 },
    );
    waiters.notify();
    value = 'here';
    waiters.notify();
    await expect(wait).resolves.toBe('here');
    waiters.notify();
    expect(checks).toBe(3);
  });

  it('gives up with the failure reason and the context, before the timeout', async () => {
    const waiters = new Waiters();
    let gone = false;
    const wait = waiters.until(() => undefined, {
      what: 'registration',
      timeoutMs: 60_000,
      failure: () => (gone ? 'worker exited' : undefined),
      context: () => 'last log line',
    });
    gone = true;
    waiters.notify();
    await expect(wait).rejects.toThrow('worker exited while waiting for registration:\nlast log line');
  });

  it('times out naming what it waited for, and polls when asked to', async () => {
    const waiters = new Waiters();
    await expect(waiters.until(() => undefined, { what: 'nothing', timeoutMs: 50 })).rejects.toThrow(
      'timed out waiting for nothing',
    );
    const at = Date.now() + 100;
    await expect(
      waiters.until(() => (Date.now() >= at ? 'polled' : undefined), {
        what: 'a clock',
        timeoutMs: 5_000,
        pollMs: 10,
      }),
    ).resolves.toBe('polled');
  });
});
