/**
 * A load-generator process (forked by `loadgen-process.ts`): hosts a {@link LoadGenerator} and answers
 * the capacity phase's requests over the IPC channel. Its simulated users then keep their 10 ms frame
 * schedule and timestamp replies without competing with the bench process (emulator, Live-socket tap,
 * /proc sampling) for one event loop. Exits when the channel closes.
 */

import { LoadGenerator } from './loadgen.ts';
import type { GeneratorRequest, GeneratorResponse } from './loadgen-process.ts';

// rtc-node logs every room event at debug level unless NODE_ENV is production.
process.env.NODE_ENV = 'production';

const o = JSON.parse(process.env.BENCH_LOADGEN ?? '{}');
const gen = new LoadGenerator(o);

const reply = (r: GeneratorResponse) => process.send?.(r);

process.on('message', async (m: GeneratorRequest) => {
  try {
    let value: unknown;
    if (m.cmd === 'add') value = await gen.addUser(m.room ?? '');
    else if (m.cmd === 'windowStart') value = await gen.windowStart();
    else if (m.cmd === 'windowEnd') value = await gen.windowEnd();
    else if (m.cmd === 'stall') value = gen.stall(m.ms ?? 0);
    else if (m.cmd === 'close') {
      await gen.close();
      reply({ id: m.id, ok: true });
      process.disconnect();
      return;
    }
    reply({ id: m.id, ok: true, value });
  } catch (err) {
    reply({ id: m.id, ok: false, error: (err as Error).message });
  }
});
process.on('disconnect', () => {
  void gen.close().finally(() => process.exit(0));
});
process.send?.({ id: 0, ok: true, value: 'ready' } satisfies GeneratorResponse);
